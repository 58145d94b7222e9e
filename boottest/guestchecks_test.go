package boottest

import (
	"bytes"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/strata-dev/strata/checks"
)

// carried is a check list as an image carries it, one of each case.
var carried = []checks.Check{
	{Source: "debian overlay", Assert: checks.Service{Unit: "systemd-networkd"}},
	{Source: "spec", Assert: checks.Service{Unit: "sshd", State: []string{"alias"}}},
	{Source: "spec", Assert: checks.Service{Unit: "apt-daily.timer", State: []string{"disabled", "masked"}}},
	{Source: "kubernetes layer", Assert: checks.Service{Unit: "swap.target", State: []string{"masked"}}},
	{Source: "kubernetes layer", Assert: checks.Service{Unit: "kubelet"}},
	{Source: "spec", Assert: checks.Service{Unit: "getty@tty1", State: []string{"static"}}},
	{Source: "kubernetes layer", Assert: checks.Sysctl{Key: "net.ipv4.ip_forward", Value: "1"}},
	{Source: "spec", Name: "low swappiness", Assert: checks.Sysctl{Key: "vm/swappiness", Value: "10"}},
	{Source: "kubernetes layer", Assert: checks.Module{Name: "br-netfilter"}},
	{Source: "spec", Assert: checks.Module{Name: "floppy", Absent: true}},
	{Source: "kubernetes layer", Assert: checks.File{Path: "/usr/bin/kubelet", Mode: "0755"}},
	{Source: "spec", Assert: checks.Package{Name: "chrony"}},
	{Source: "spec", Assert: checks.Cmdline{Arg: "console=ttyS0"}},
	{Source: "node.yaml:40", Assert: checks.Module{Name: "nf;reboot"}},
}

func TestPlanGuestChecks(t *testing.T) {
	g := PlanGuestChecks(carried)
	type row struct{ id, name, source, fn, subject, want, wait string }
	want := []row{
		{"c1", "systemctl is-system-running", "boot-test", "check_system", "", "", ""},
		{"c2", "service systemd-networkd.service", "debian overlay", "check_service", "systemd-networkd.service", "", ""},
		{"c3", "service sshd.service", "spec", "check_service", "sshd.service", "", ""},
		{"c4", "service swap.target", "kubernetes layer", "check_service", "swap.target", "", ""},
		{"c5", "service kubelet.service", "kubernetes layer", "check_service", "kubelet.service", "", "/var/lib/kubelet/config.yaml"},
		{"c6", "sysctl net.ipv4.ip_forward", "kubernetes layer", "check_sysctl", "/proc/sys/net/ipv4/ip_forward", "1", ""},
		{"c7", "low swappiness", "spec", "check_sysctl", "/proc/sys/vm/swappiness", "10", ""},
		{"c8", "module br-netfilter", "kubernetes layer", "check_module", "br_netfilter", "", ""},
		{"c9", "module floppy", "spec", "check_module", "floppy", "", ""},
		{"c10", "crictl info", "boot-test", "check_crictl", "", "", ""},
	}
	if len(g.Checks) != len(want) {
		t.Fatalf("%d checks planned, want %d: %+v", len(g.Checks), len(want), g.Checks)
	}
	for i, c := range g.Checks {
		got := row{c.ID, c.Name, c.Source, c.kind.fn, c.Subject, c.Want, c.waitFile}
		if got != want[i] {
			t.Errorf("check %d = %+v, want %+v", i, got, want[i])
		}
	}
	if g.Checks[3].kind != kindMasked || g.Checks[8].kind != kindNoModule {
		t.Error("swap.target is not checked masked, or floppy not checked absent")
	}
	// apt-daily.timer (disabled or masked), getty@tty1 (static), the file,
	// the package and the command line have no booted-state check.
	if g.Offline != 5 {
		t.Errorf("Offline = %d, want 5", g.Offline)
	}
	if len(g.Invalid) != 1 || g.Invalid[0].Status != checks.Error || g.Invalid[0].Source != "node.yaml:40" ||
		!strings.Contains(g.Invalid[0].Detail, `"nf;reboot" is not a module name`) {
		t.Errorf("Invalid = %+v, want the module with a ; as an error", g.Invalid)
	}
}

func TestScriptQuotesSubjects(t *testing.T) {
	g := PlanGuestChecks([]checks.Check{
		{Source: "spec", Assert: checks.Service{Unit: "it's$(reboot).service"}},
		{Source: "spec", Assert: checks.Sysctl{Key: "net.ipv4.conf.eth0/1.rp_filter", Value: "2"}},
	})
	script := g.Script()
	for _, want := range []string{
		`check_service c2 'it'\''s$(reboot).service'` + "\n",
		// A slash in a dotted key is a dot in the path (eth0.1).
		`check_sysctl c3 '/proc/sys/net/ipv4/conf/eth0.1/rp_filter'` + "\n",
		"check_system c1 600\n",
		"check_crictl c4\n",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("script lacks %q:\n%s", want, script)
		}
	}
	// No listing of the script may pass for its output.
	for _, marker := range []string{factPrefix, DoneMarker, startMarker} {
		if strings.Contains(script, marker) {
			t.Errorf("the script's text holds %q", marker)
		}
	}
	bad := PlanGuestChecks([]checks.Check{{Source: "spec", Assert: checks.Service{Unit: "a\nb"}}})
	if len(bad.Invalid) != 1 || !strings.Contains(bad.Invalid[0].Detail, "control character") {
		t.Errorf("a unit name with a newline: %+v", bad.Invalid)
	}
}

// fakeSystemctl answers as systemd does for the units the test's plan
// names.
const fakeSystemctl = `#!/bin/sh
case "$1" in
is-system-running) echo degraded ;;
list-units) echo 'cloud-final.service loaded failed failed Cloud-init: Final Stage' ;;
list-jobs) ;;
show)
	for u; do :; done
	case "$u" in
	"it's\$x.service")
		printf '%s\n' Type=oneshot Result=success LoadState=loaded ActiveState=inactive SubState=dead ExecMainStartTimestampMonotonic=4711 ConditionResult=yes ;;
	kubelet.service)
		printf '%s\n' Type=simple Result=exit-code LoadState=loaded ActiveState=activating SubState=auto-restart ExecMainStartTimestampMonotonic=99 ConditionResult=yes ;;
	swap.target)
		printf '%s\n' LoadState=masked ActiveState=inactive SubState=dead Result=success ConditionResult=yes ;;
	*)
		printf '%s\n' Type=simple Result=success LoadState=not-found ActiveState=inactive SubState=dead ExecMainStartTimestampMonotonic=0 ConditionResult=yes ;;
	esac ;;
esac
`

// TestScriptRunsAndParses runs the generated script with sh on this
// machine, a stand-in systemctl on PATH and its output on stdout rather
// than the serial port, and judges what it printed: the shell functions
// and the parser must agree on every line.
func TestScriptRunsAndParses(t *testing.T) {
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "systemctl"), []byte(fakeSystemctl), 0o755); err != nil {
		t.Fatal(err)
	}
	ostype, err := os.ReadFile("/proc/sys/kernel/ostype")
	if err != nil {
		t.Skipf("no /proc/sys here: %v", err)
	}
	g := PlanGuestChecks([]checks.Check{
		{Source: "spec", Assert: checks.Service{Unit: "it's$x.service"}},
		{Source: "kubernetes layer", Assert: checks.Service{Unit: "kubelet"}},
		{Source: "kubernetes layer", Assert: checks.Service{Unit: "swap.target", State: []string{"masked"}}},
		{Source: "spec", Assert: checks.Service{Unit: "missing"}},
		{Source: "spec", Assert: checks.Sysctl{Key: "kernel.ostype", Value: strings.TrimSpace(string(ostype))}},
		{Source: "spec", Assert: checks.Sysctl{Key: "kernel.ostype", Value: "Plan9"}},
		{Source: "spec", Assert: checks.Sysctl{Key: "net.strata.none", Value: "1"}},
		{Source: "spec", Assert: checks.Module{Name: "strata_no_such_module"}},
		{Source: "spec", Assert: checks.Module{Name: "strata-no-such-module", Absent: true}},
	})
	script := strings.Replace(g.Script(), consoleSelect, "con=/dev/stdout", 1)
	if script == g.Script() {
		t.Fatal("the script does not pick its console with consoleSelect")
	}
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("the script failed: %v\n%s", err, out.String())
	}
	results := g.Results(out.String())
	want := []struct {
		status checks.Status
		detail string
	}{
		{checks.Fail, "degraded: a unit failed; failed units: cloud-final.service"},
		{checks.Pass, "oneshot, ran and succeeded: inactive (dead)"},
		{checks.Skip, "activating (auto-restart), result exit-code: waits for the node to join a cluster (no /var/lib/kubelet/config.yaml yet)"},
		{checks.Pass, "masked"},
		{checks.Fail, "want active, found not-found"},
		{checks.Pass, "Linux (live, /proc/sys/kernel/ostype)"},
		{checks.Fail, "want Plan9, found Linux (live, /proc/sys/kernel/ostype)"},
		{checks.Fail, "want 1, /proc/sys/net/strata/none is unreadable: cat: /proc/sys/net/strata/none: No such file or directory"},
		{checks.Fail, "want loaded, found not loaded"},
		{checks.Pass, "not loaded"},
	}
	for i, w := range want {
		if r := results[i]; r.Status != w.status || !strings.HasPrefix(r.Detail, w.detail) {
			t.Errorf("%s: %s %q, want %s %q", r.Name, r.Status, r.Detail, w.status, w.detail)
		}
	}
	// This machine has no crictl (or has one with no runtime behind it):
	// skipped or failed, but judged.
	if r := results[len(results)-1]; r.Name != "crictl info" || r.Status == checks.Error {
		t.Errorf("crictl: %+v\nconsole:\n%s", r, out.String())
	}
}

func TestResultsWithoutALine(t *testing.T) {
	g := PlanGuestChecks([]checks.Check{{Source: "spec", Assert: checks.Sysctl{Key: "vm.swappiness", Value: "10"}}})
	for _, tt := range []struct{ name, console, want string }{
		{"nothing", "[  OK  ] Reached target multi-user.target - Multi-User System.\n", "the checks did not start"},
		{"cut off", "strata-boot-check-start 3\nstrata-boot-check c1 state running\nstrata-boot-check c1 end\n", "the checks stopped before it"},
		{"half a check", "strata-boot-check-start 3\nstrata-boot-check c2 value 1", "its report on the console is cut off"},
		{"garbled", "strata-boot-check-start 3\nstrata-boot-check-done 3\n", "no line of it on the console"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			results := g.Results(tt.console)
			if len(results) != 3 {
				t.Fatalf("%d results", len(results))
			}
			if r := results[1]; r.Status != checks.Error || !strings.Contains(r.Detail, tt.want) {
				t.Errorf("sysctl result %s %q, want an error saying %q", r.Status, r.Detail, tt.want)
			}
		})
	}
	// A kernel message that began the line does not hide the report, and
	// the first report of a key counts.
	console := "strata-boot-check-start 3\n[   42.1] audit: strata-boot-check c2 value 10\nstrata-boot-check c2 value 11\nstrata-boot-check c2 end\n"
	if r := g.Results(console)[1]; r.Status != checks.Pass || r.Found != "10" {
		t.Errorf("interleaved line: %+v", r)
	}
}

func TestJudgeUnits(t *testing.T) {
	for _, tt := range []struct {
		name  string
		facts string
		want  checks.Status
		words string
	}{
		{"running", "LoadState=loaded ActiveState=active SubState=running", checks.Pass, "active (running)"},
		{"remain after exit", "LoadState=loaded ActiveState=active SubState=exited Type=oneshot", checks.Pass, "active (exited)"},
		{"timer", "LoadState=loaded ActiveState=active SubState=waiting", checks.Pass, "active (waiting)"},
		{"failed", "LoadState=loaded ActiveState=failed SubState=failed Result=exit-code", checks.Fail, "want active, found failed (failed), result exit-code"},
		{"oneshot failed", "LoadState=loaded ActiveState=inactive SubState=dead Type=oneshot Result=exit-code ExecMainStartTimestampMonotonic=5", checks.Fail, "result exit-code"},
		{"never started", "LoadState=loaded ActiveState=inactive SubState=dead Type=simple Result=success ExecMainStartTimestampMonotonic=0", checks.Fail, "nothing in this boot started it"},
		{"condition", "LoadState=loaded ActiveState=inactive SubState=dead ConditionResult=no ExecMainStartTimestampMonotonic=0", checks.Skip, "start conditions did not hold"},
		{"crash loop", "LoadState=loaded ActiveState=activating SubState=auto-restart Result=exit-code", checks.Fail, "activating (auto-restart)"},
		{"masked", "LoadState=masked ActiveState=inactive SubState=dead", checks.Fail, "want active, found masked"},
		{"no LoadState", "Failed=to", checks.Error, "no LoadState"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := facts{kv: map[string]string{}, ended: true}
			for _, kv := range strings.Fields(tt.facts) {
				k, v, _ := strings.Cut(kv, "=")
				f.kv[k] = v
			}
			o := judgeActive(GuestCheck{Subject: "x.service"}, f)
			if o.Status != tt.want || !strings.Contains(o.Detail, tt.words) {
				t.Errorf("%s %q, want %s with %q", o.Status, o.Detail, tt.want, tt.words)
			}
		})
	}
	// kubelet before kubeadm: a skip only while its config is missing.
	f := facts{kv: map[string]string{"LoadState": "loaded", "ActiveState": "activating", "SubState": "auto-restart", "bootstrapped": "yes"}}
	if o := judgeActive(GuestCheck{waitFile: "/var/lib/kubelet/config.yaml"}, f); o.Status != checks.Fail {
		t.Errorf("kubelet crash-looping with its config: %s %q", o.Status, o.Detail)
	}
	// Caught running between two of its restarts, it is still waiting.
	f = facts{kv: map[string]string{"LoadState": "loaded", "ActiveState": "active", "SubState": "running", "bootstrapped": "no"}}
	if o := judgeActive(GuestCheck{waitFile: "/var/lib/kubelet/config.yaml"}, f); o.Status != checks.Skip {
		t.Errorf("kubelet running for a moment without its config: %s %q", o.Status, o.Detail)
	}
}

func TestJudgeSysctlAndCRI(t *testing.T) {
	f := facts{kv: map[string]string{"value": "4096 131072  6291456"}}
	if o := judgeSysctl(GuestCheck{Subject: "/proc/sys/net/ipv4/tcp_rmem", Want: "4096\t131072 6291456"}, f); o.Status != checks.Pass {
		t.Errorf("white space: %s %q", o.Status, o.Detail)
	}
	for _, tt := range []struct {
		kv    map[string]string
		want  checks.Status
		words string
	}{
		{map[string]string{"crictl": "/usr/local/bin/crictl", "rc": "0", "RuntimeReady": "true", "NetworkReady": "false"}, checks.Pass, "RuntimeReady true, NetworkReady false (/usr/local/bin/crictl info)"},
		{map[string]string{"crictl": "/usr/local/bin/crictl", "rc": "1", "output": "connect: no such file"}, checks.Fail, "exit status 1: connect: no such file"},
		{map[string]string{"crictl": "/usr/bin/crictl", "rc": "0", "RuntimeReady": "false"}, checks.Fail, "RuntimeReady false"},
		{map[string]string{"crictl": "none"}, checks.Skip, "no crictl in the image"},
	} {
		if o := judgeCRI(GuestCheck{}, facts{kv: tt.kv}); o.Status != tt.want || !strings.Contains(o.Detail, tt.words) {
			t.Errorf("crictl %v: %s %q, want %s with %q", tt.kv, o.Status, o.Detail, tt.want, tt.words)
		}
	}
}

// TestSeed: the user-data is a cloud-config cloud-init reads as it is (no
// Jinja header) whose one runcmd entry writes the script and starts it.
func TestSeed(t *testing.T) {
	g := PlanGuestChecks(carried)
	s := g.Seed()
	if !strings.HasPrefix(s.UserData, "#cloud-config\n") || strings.Contains(s.UserData, "## template") {
		t.Errorf("user-data header:\n%s", s.UserData)
	}
	if s.MetaData != "instance-id: strata-boot-test\n" {
		t.Errorf("meta-data %q", s.MetaData)
	}
	var doc struct {
		Runcmd [][]string `yaml:"runcmd"`
	}
	if err := yaml.Unmarshal([]byte(s.UserData), &doc); err != nil {
		t.Fatalf("user-data: %v\n%s", err, s.UserData)
	}
	if len(doc.Runcmd) != 1 || len(doc.Runcmd[0]) != 3 || doc.Runcmd[0][0] != "sh" || doc.Runcmd[0][1] != "-c" {
		t.Fatalf("runcmd %q", doc.Runcmd)
	}
	cmd := doc.Runcmd[0][2]
	_, rest, _ := strings.Cut(cmd, "printf %s ")
	enc, _, _ := strings.Cut(rest, " ")
	script, err := base64.StdEncoding.DecodeString(enc)
	if err != nil || string(script) != g.Script() {
		t.Errorf("the runcmd does not carry the script (%v):\n%s", err, cmd)
	}
	if !strings.HasSuffix(cmd, "| base64 -d >"+scriptPath+" && exec systemd-run --unit=strata-boot-test --no-block --collect --quiet /bin/sh "+scriptPath) {
		t.Errorf("runcmd %q", cmd)
	}
}

// TestCRICondition reads the runtime's conditions out of crictl info's
// JSON in both key orders: crictl 1.36 (what the fixture builds) sorts the
// keys, so "status" comes before "type"; older ones print "type" first.
func TestCRICondition(t *testing.T) {
	sorted := `{"status":{"conditions":[{"message":"","reason":"","status":true,"type":"RuntimeReady"},{"message":"no CNI","reason":"NetworkPluginNotReady","status":false,"type":"NetworkReady"}]}}`
	fieldOrder := `{"status":{"conditions":[{"type":"RuntimeReady","status":true,"reason":"","message":""},{"type":"NetworkReady","status":false}]}}`
	for _, tt := range []struct{ json, cond, want string }{
		{sorted, "RuntimeReady", "true"},
		{sorted, "NetworkReady", "false"},
		{fieldOrder, "RuntimeReady", "true"},
		{fieldOrder, "NetworkReady", "false"},
		{`{"status":{}}`, "RuntimeReady", "unknown"},
	} {
		out, err := exec.Command("/bin/sh", "-c", guestPrelude+"\ncri_condition \"$1\" \"$2\"", "sh", tt.json, tt.cond).Output()
		if err != nil {
			t.Fatalf("cri_condition: %v", err)
		}
		if got := strings.TrimSpace(string(out)); got != tt.want {
			t.Errorf("cri_condition(%s, %s) = %q, want %q", tt.json, tt.cond, got, tt.want)
		}
	}
}
