package boottest

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"github.com/strata-dev/strata/checks"
)

// Source is the Source of the checks boot-test adds on its own, and of
// the boot itself, in reports.
const Source = "boot-test"

// DoneMarker is what the guest prints once every booted-state check has
// reported; a boot that runs them waits for it.
const DoneMarker = "strata-boot-check-done"

// The console lines of the checks are "strata-boot-check ID KEY VALUE",
// "strata-boot-check ID end" after each check, and the start and done
// markers. The script assembles them at run time from markerStem, so
// that no listing of the script (cloud-init's, a shell's trace) passes
// for its output.
const (
	markerStem  = "strata-boot"
	factPrefix  = markerStem + "-check "
	startMarker = markerStem + "-check-start"
)

// systemWait bounds how long, in seconds, the checks wait for the boot to
// finish (systemctl is-system-running to leave "starting") before they
// look.
const systemWait = "600"

// guestKind is a kind of booted-state check: the shell function that
// gathers its facts in the guest, and the judgement of those facts.
type guestKind struct {
	// fn is the shell function, called as "fn ID [SUBJECT [WAITFILE]]
	// [extra...]".
	fn    string
	extra []string
	judge func(c GuestCheck, f facts) checks.Outcome
}

// The kinds. Their shell functions are in guestPrelude.
var (
	kindSystem   = &guestKind{fn: "check_system", extra: []string{systemWait}, judge: judgeSystem}
	kindActive   = &guestKind{fn: "check_service", judge: judgeActive}
	kindMasked   = &guestKind{fn: "check_service", judge: judgeMasked}
	kindSysctl   = &guestKind{fn: "check_sysctl", judge: judgeSysctl}
	kindModule   = &guestKind{fn: "check_module", judge: judgeModule}
	kindNoModule = &guestKind{fn: "check_module", judge: judgeNoModule}
	kindCRI      = &guestKind{fn: "check_crictl", judge: judgeCRI}
)

var (
	moduleNameRE = regexp.MustCompile(`^[A-Za-z0-9_]+$`)
	// activeStates are the wanted enablement states that mean "runs":
	// an alias passes offline when its unit is enabled.
	activeStates = []string{"enabled", "alias"}
)

// awaitsBootstrap are units that are enabled in a node image but cannot
// run until the node joins a cluster, with the file whose absence says it
// has not: kubelet restarts every few seconds until kubeadm writes its
// config, which is what kubeadm's own docs describe. Such a unit not
// running on a node without the file is a skip, not a failure.
var awaitsBootstrap = map[string]string{
	"kubelet.service": "/var/lib/kubelet/config.yaml",
}

// GuestCheck is one booted-state check.
type GuestCheck struct {
	// ID names the check in the console lines: "c1", "c2", ...
	ID string
	// Name and Source are the report's; a check carried by the image keeps
	// its name and source, so its row reads as inspect's does.
	Name, Source string
	// Subject is what the check looks at: a unit, a /proc/sys path, a
	// module.
	Subject string
	// Want is the value a sysctl must have.
	Want string

	kind *guestKind
	// waitFile is the awaitsBootstrap file of a unit.
	waitFile string
}

// GuestChecks are the checks a booted guest runs: of the checks an image
// carries, those a running system answers (services enabled are active,
// masked ones masked; sysctls hold their values; modules are loaded),
// and of its own: the system state, and `crictl info` where crictl is
// installed.
type GuestChecks struct {
	Checks []GuestCheck
	// Invalid are carried checks that cannot be turned into a guest check
	// (a malformed name), as error results.
	Invalid []checks.Result
	// Offline counts the carried checks with no booted-state meaning
	// (files, packages, the command line, units wanted disabled): strata
	// inspect checks those.
	Offline int
}

// PlanGuestChecks picks and orders the booted-state checks for an image
// that carries list: the system state first, since it waits for the boot
// to finish, then the carried checks in their order, then crictl.
func PlanGuestChecks(list []checks.Check) *GuestChecks {
	g := &GuestChecks{}
	g.add(GuestCheck{Name: "systemctl is-system-running", Source: Source, kind: kindSystem})
	for _, c := range list {
		gc, ok, err := guestCheck(c)
		switch {
		case err != nil:
			g.Invalid = append(g.Invalid, checks.Result{Name: checkName(c), Source: c.Source, Status: checks.Error, Detail: err.Error()})
		case ok:
			g.add(gc)
		default:
			g.Offline++
		}
	}
	g.add(GuestCheck{Name: "crictl info", Source: Source, kind: kindCRI})
	return g
}

func (g *GuestChecks) add(c GuestCheck) {
	c.ID = fmt.Sprintf("c%d", len(g.Checks)+1)
	g.Checks = append(g.Checks, c)
}

func checkName(c checks.Check) string {
	if c.Name != "" || c.Assert == nil {
		return c.Name
	}
	return c.Assert.Describe()
}

// guestCheck maps a carried check to a booted-state one; ok is false for
// a check that has none.
func guestCheck(c checks.Check) (gc GuestCheck, ok bool, err error) {
	if err := c.Validate(); err != nil {
		return gc, false, err
	}
	gc = GuestCheck{Name: checkName(c), Source: c.Source}
	switch a := c.Assert.(type) {
	case checks.Service:
		gc.Subject = checks.UnitName(a.Unit)
		switch {
		case len(a.State) == 0 || containsOnly(a.State, activeStates):
			gc.kind, gc.waitFile = kindActive, awaitsBootstrap[gc.Subject]
		case containsOnly(a.State, []string{"masked"}):
			gc.kind = kindMasked
		default:
			// disabled, static, ...: a running system may start such a
			// unit or not; the offline check is the one that means it.
			return gc, false, nil
		}
	case checks.Sysctl:
		// SysctlPath cleans the key as a path: it stays under /proc/sys.
		gc.kind, gc.Subject, gc.Want = kindSysctl, checks.SysctlPath(a.Key), a.Value
	case checks.Module:
		gc.kind, gc.Subject = kindModule, strings.ReplaceAll(a.Name, "-", "_")
		if a.Absent {
			gc.kind = kindNoModule
		}
		if !moduleNameRE.MatchString(gc.Subject) {
			return gc, false, fmt.Errorf("module name %q is not a module name", a.Name)
		}
	default:
		return gc, false, nil
	}
	// The subject goes into the script quoted, and comes back in the
	// report; a control character would be garbled on the way.
	if strings.ContainsFunc(gc.Subject, unicode.IsControl) {
		return gc, false, fmt.Errorf("%s: a control character in %q", gc.Name, gc.Subject)
	}
	return gc, true, nil
}

func containsOnly(list, allowed []string) bool {
	for _, s := range list {
		if !slices.Contains(allowed, s) {
			return false
		}
	}
	return true
}

// shellQuote quotes s for sh: single quotes keep every byte as it is but
// the single quote itself, which closes the quotes, is escaped with a
// backslash, and opens them again.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// consoleSelect picks where the script's lines go: the first serial
// port, which is what QEMU's -serial stdio reads. /dev/console is that
// port when it is the kernel's last console= (the one listed last in
// /sys/class/tty/console/active), and is the better way to it: agetty
// starting on ttyS0 hangs up every file open on ttyS0 (vhangup), but not
// those opened through /dev/console. Otherwise /dev/ttyS0 is opened anew
// for each line, by a child: the script is a session leader, and its own
// open of a terminal would make ttyS0 its controlling one, which a
// hang-up answers with SIGHUP.
const consoleSelect = `con=/dev/ttyS0
case " $(cat /sys/class/tty/console/active 2>/dev/null)" in *" ttyS0") con=/dev/console ;; esac`

// guestPrelude is the start of the script: the console, say, and the
// shell function of each kind. It runs under any POSIX sh with
// coreutils, grep and systemd's tools, and nothing else (no awk, no jq).
const guestPrelude = `#!/bin/sh
# strata boot-test's booted-state checks, generated for one boot. Each check
# prints "<stem>-check ID KEY VALUE" lines on the serial console, then
# "<stem>-check ID end"; strata boot-test judges them. Its own output and
# errors go to the journal.
` + consoleSelect + `
stem=` + markerStem + `
# put prints a line, and once more if the write failed (a hang-up of the
# port as agetty starts); say ID KEY VALUE prints a check's line.
put() { printf '%s\n' "$1" | cat >"$con" 2>/dev/null || { sleep 1; printf '%s\n' "$1" | cat >"$con"; }; }
say() { put "$stem-check $*"; }
flat() { tr '\t\n' '  '; }

# The boot's end state, once every job of the boot is done or after $2
# seconds. (Polled: is-system-running --wait is systemd 240's and later.)
check_system() {
	i=0
	while state=$(systemctl is-system-running 2>/dev/null); [ "$i" -lt "$2" ]; do
		case $state in initializing | starting) sleep 1; i=$((i + 1)) ;; *) break ;; esac
	done
	say "$1" state "$state"
	say "$1" failed "$(systemctl list-units --state=failed --no-legend --plain 2>/dev/null | while read -r u rest; do printf '%s ' "$u"; done)"
	say "$1" jobs "$(systemctl list-jobs --no-legend --plain 2>/dev/null | while read -r n u rest; do printf '%s ' "$u"; done)"
	say "$1" end
}

# A unit's runtime state; with a third argument, whether that file exists.
check_service() {
	systemctl show -p LoadState -p ActiveState -p SubState -p Result -p Type \
		-p ConditionResult -p ExecMainStartTimestampMonotonic -- "$2" 2>&1 |
		while IFS='=' read -r k v; do say "$1" "$k" "$v"; done
	if [ -n "$3" ]; then
		if [ -e "$3" ]; then say "$1" bootstrapped yes; else say "$1" bootstrapped no; fi
	fi
	say "$1" end
}

# A kernel parameter's live value.
check_sysctl() {
	if v=$(cat -- "$2" 2>&1); then say "$1" value "$(printf '%s' "$v" | flat)"; else say "$1" error "$(printf '%s' "$v" | flat)"; fi
	say "$1" end
}

# Whether a module is loaded, or built into the running kernel.
check_module() {
	b=/lib/modules/$(uname -r)/modules.builtin
	if grep -q "^$2 " /proc/modules 2>/dev/null; then
		say "$1" state loaded
	elif [ -r "$b" ] && tr - _ <"$b" | grep -q "/$2\.ko\$"; then
		say "$1" state builtin
	else
		say "$1" state absent
	fi
	say "$1" end
}

# cri_condition prints true, false or unknown: the status of condition $2
# in crictl info's JSON $1, white space taken out. crictl 1.36 sorts the
# keys (status before type); older ones print type first.
cri_condition() {
	case $1 in
	*"\"type\":\"$2\",\"status\":true"* | *"\"status\":true,\"type\":\"$2\""*) echo true ;;
	*"\"type\":\"$2\",\"status\":false"* | *"\"status\":false,\"type\":\"$2\""*) echo false ;;
	*) echo unknown ;;
	esac
}

# crictl info: its exit status and the runtime's conditions, from its JSON
# with the white space taken out.
check_crictl() {
	c=
	for p in /usr/local/bin/crictl /usr/bin/crictl; do
		if [ -x "$p" ]; then c=$p; break; fi
	done
	if [ -z "$c" ]; then say "$1" crictl none; say "$1" end; return; fi
	say "$1" crictl "$c"
	out=$(timeout 60 "$c" info 2>&1)
	rc=$?
	say "$1" rc "$rc"
	j=$(printf '%s' "$out" | tr -d ' \t\n')
	for cond in RuntimeReady NetworkReady; do
		say "$1" "$cond" "$(cri_condition "$j" "$cond")"
	done
	[ "$rc" = 0 ] || say "$1" output "$(printf '%s' "$out" | tail -n 3 | flat)"
	say "$1" end
}

`

// Script is the shell script that runs the checks in the guest.
func (g *GuestChecks) Script() string {
	var b strings.Builder
	b.WriteString(guestPrelude)
	fmt.Fprintf(&b, "put \"$stem-check-start %d\"\n", len(g.Checks))
	for _, c := range g.Checks {
		args := []string{c.kind.fn, c.ID}
		if c.Subject != "" {
			args = append(args, shellQuote(c.Subject))
		}
		if c.waitFile != "" {
			args = append(args, shellQuote(c.waitFile))
		}
		args = append(args, c.kind.extra...)
		b.WriteString(strings.Join(args, " ") + "\n")
	}
	fmt.Fprintf(&b, "put \"$stem-check-done %d\"\n", len(g.Checks))
	return b.String()
}

// scriptPath is where the seed's user-data puts the script in the guest.
const scriptPath = "/run/strata-boot-test/checks.sh"

// Seed is a NoCloud seed whose user-data writes the script and starts it
// as a transient unit, so it runs after cloud-init's final stage rather
// than inside it (the system state it waits for includes that stage).
// The script goes in base64, which neither YAML nor the shell reads into;
// the user-data has no "## template: jinja" header, so cloud-init does
// not render it.
func (g *GuestChecks) Seed() NoCloudSeed {
	enc := base64.StdEncoding.EncodeToString([]byte(g.Script()))
	run := fmt.Sprintf("mkdir -p /run/strata-boot-test && printf %%s %s | base64 -d >%s && "+
		"exec systemd-run --unit=strata-boot-test --no-block --collect --quiet /bin/sh %s", enc, scriptPath, scriptPath)
	return NoCloudSeed{
		UserData: "#cloud-config\n# strata boot-test: run the booted-state checks once the boot is over\n" +
			"runcmd:\n  - [sh, -c, \"" + run + "\"]\n",
		MetaData: "instance-id: strata-boot-test\n",
	}
}
