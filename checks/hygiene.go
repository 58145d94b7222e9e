package checks

import (
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// HygieneSource is the Source of the built-in hygiene checks.
const HygieneSource = "hygiene"

// DefaultVarLogLimit is the most /var/log may hold, as in image-builder's
// Goss hygiene spec (du -sm /var/log, 200).
const DefaultVarLogLimit = 200 << 20

// HygieneOptions tune the built-in hygiene checks.
type HygieneOptions struct {
	// Skip names hygiene checks not to run (see HygieneNames).
	Skip []string
	// VarLogLimit is the most the files under /var/log may add up to;
	// zero means DefaultVarLogLimit.
	VarLogLimit int64
	// Secrets are values no file in the image may contain: the secrets
	// the build was given. Without any, the secret scan is skipped.
	Secrets []Secret
	// SecretScanMaxFile is the largest file the secret scan reads; zero
	// means DefaultSecretScanMaxFile. Larger files are listed as skipped.
	SecretScanMaxFile int64
}

// hygieneCheck is one built-in check: its name, where the rule comes
// from (for docs/validation.md), and the assertion.
type hygieneCheck struct {
	name, origin string
	build        func(HygieneOptions) Assertion
}

var hygieneChecks = []hygieneCheck{
	{"ssh-host-keys", "image-builder", func(HygieneOptions) Assertion {
		return forbidden{what: "SSH host keys (each VM must make its own)", globs: []string{"/etc/ssh/ssh_host_*_key"}}
	}},
	{"machine-id", "image-builder, systemd", func(HygieneOptions) Assertion { return machineID{} }},
	{"cloud-init-instance", "image-builder", func(HygieneOptions) Assertion {
		return forbidden{what: "cloud-init state of the build's instance", globs: []string{"/var/lib/cloud/instance", "/var/lib/cloud/data/instance-id"}}
	}},
	{"shell-history", "strata", func(HygieneOptions) Assertion { return forbidden{what: "shell history", globs: historyGlobs()} }},
	{"core-dumps", "image-builder", func(HygieneOptions) Assertion {
		return forbidden{what: "core dumps", globs: []string{"/var/crash/*", "/var/lib/systemd/coredump/*"},
			trees: []string{"/tmp", "/var/tmp"}, names: []string{"core", "core.*", "*.core"}, regular: true}
	}},
	{"apt-lists", "strata", func(HygieneOptions) Assertion { return aptLists{} }},
	{"var-log-size", "image-builder", func(o HygieneOptions) Assertion { return varLogSize{limit: o.VarLogLimit} }},
	{"resolv-conf", "strata", func(HygieneOptions) Assertion { return resolvConf{} }},
	{"secrets", "strata", func(o HygieneOptions) Assertion {
		return secretScan{secrets: o.Secrets, maxFile: o.SecretScanMaxFile}
	}},
}

// HygieneNames lists the built-in hygiene checks, in the order they run.
func HygieneNames() []string {
	names := make([]string, len(hygieneChecks))
	for i, h := range hygieneChecks {
		names[i] = h.name
	}
	return names
}

// Hygiene returns the built-in checks that a generic image passes: nothing
// of the build machine or of one particular VM left in it.
func Hygiene(o HygieneOptions) []Check {
	var out []Check
	for _, h := range hygieneChecks {
		if slices.Contains(o.Skip, h.name) {
			continue
		}
		out = append(out, Check{Name: h.name, Source: HygieneSource, Assert: h.build(o)})
	}
	return out
}

func historyGlobs() []string {
	var g []string
	for _, home := range []string{"/root", "/home/*"} {
		for _, f := range []string{".bash_history", ".zsh_history", ".ash_history", ".sh_history"} {
			g = append(g, home+"/"+f)
		}
	}
	return g
}

// forbidden fails when any entry matches: globs, or, under trees, entries
// whose base name matches one of names.
type forbidden struct {
	what    string
	globs   []string
	trees   []string
	names   []string
	regular bool // only regular files count
}

func (f forbidden) Describe() string { return "no " + f.what }
func (f forbidden) validate() error  { return nil }

func (f forbidden) wants() []string {
	var w []string
	for _, g := range f.globs {
		// The deepest literal directory: what expanding the glob lists.
		d := g
		for hasMeta(d) {
			d = path.Dir(d)
		}
		w = append(w, d)
	}
	return append(w, f.trees...)
}

func (f forbidden) evaluate(e *env) Outcome {
	var found []string
	for _, g := range f.globs {
		m, err := e.match(g)
		if err != nil {
			return errorOutcome(g, err)
		}
		for _, p := range m {
			if f.counts(e, p) {
				found = append(found, p)
			}
		}
	}
	for _, t := range f.trees {
		err := e.walk(t, func(p string, d fs.DirEntry) {
			for _, n := range f.names {
				if ok, _ := path.Match(n, d.Name()); ok && (!f.regular || d.Type().IsRegular()) {
					found = append(found, p)
					return
				}
			}
		})
		if err != nil {
			return errorOutcome(t, err)
		}
	}
	if len(found) > 0 {
		return Outcome{Status: Fail, Path: found[0], Expected: "none", Found: listing(found, 3),
			Detail: fmt.Sprintf("found %s", listing(found, 3))}
	}
	return pass("", "none found")
}

func (f forbidden) counts(e *env, p string) bool {
	if !f.regular {
		return true
	}
	info, err := e.lstat(p)
	return err == nil && info.Mode().IsRegular()
}

// walk calls fn for every entry under dir (not dir itself), without
// following symlinks; a missing dir is no error.
func (e *env) walk(dir string, fn func(p string, d fs.DirEntry)) error {
	real, err := e.resolve(dir)
	if isNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	e.prefetchTree(real)
	return fs.WalkDir(e.img.Root, rel(real), func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if name != rel(real) {
			fn(path.Join(dir, strings.TrimPrefix(abs(name), real)), d)
		}
		return nil
	})
}

// aptLists wants no package indexes in /var/lib/apt/lists: they are
// stale the day the image boots, and large. The lock file, the partial/
// download directory and empty directories (apt's auxfiles/) may stay.
type aptLists struct{}

const aptListsDir = "/var/lib/apt/lists"

func (aptLists) Describe() string { return "no apt package lists" }
func (aptLists) validate() error  { return nil }

func (aptLists) evaluate(e *env) Outcome {
	var found []string
	err := e.walk(aptListsDir, func(p string, d fs.DirEntry) {
		if d.IsDir() || p == aptListsDir+"/lock" || strings.HasPrefix(p, aptListsDir+"/partial/") {
			return
		}
		found = append(found, p)
	})
	if err != nil {
		return errorOutcome(aptListsDir, err)
	}
	if len(found) > 0 {
		return Outcome{Status: Fail, Path: found[0], Expected: "none", Found: listing(found, 3),
			Detail: fmt.Sprintf("found %d: %s", len(found), listing(found, 3))}
	}
	return pass("", "none found")
}

// machineID wants /etc/machine-id missing, empty or "uninitialized", so
// that systemd gives every VM its own on first boot (machine-id(5)); a
// copied one makes every node look like the same machine to journald,
// DHCP (the DUID) and kubelet. /var/lib/dbus/machine-id, D-Bus's copy,
// must be absent or a symlink to it.
type machineID struct{}

func (machineID) Describe() string { return "machine-id unset" }
func (machineID) validate() error  { return nil }
func (machineID) wants() []string  { return []string{"/etc/machine-id", "/var/lib/dbus/machine-id"} }

func (machineID) evaluate(e *env) Outcome {
	const p = "/etc/machine-id"
	b, err := e.readFile(p)
	switch {
	case isNotExist(err):
	case err != nil:
		return errorOutcome(p, err)
	default:
		if id := strings.TrimSpace(string(b)); id != "" && id != "uninitialized" {
			return fail(p, `empty or "uninitialized"`, "a machine ID, "+clip(id))
		}
	}
	const dbus = "/var/lib/dbus/machine-id"
	info, err := e.lstat(dbus)
	if err == nil && info.Mode().IsRegular() && info.Size() > 0 {
		return fail(dbus, "absent, or a symlink to /etc/machine-id", "a file of its own")
	}
	return pass(p, "unset")
}

// resolvConf wants no build-time resolver configuration: /etc/resolv.conf
// absent, a symlink (to systemd-resolved's or the network manager's), or
// a file without nameserver lines. A copied one points every node at the
// build machine's DNS server.
type resolvConf struct{}

func (resolvConf) Describe() string { return "resolv.conf not from the build" }
func (resolvConf) validate() error  { return nil }
func (resolvConf) wants() []string  { return []string{"/etc/resolv.conf"} }

func (resolvConf) evaluate(e *env) Outcome {
	const p = "/etc/resolv.conf"
	info, err := e.lstat(p)
	switch {
	case isNotExist(err):
		return pass(p, "absent")
	case err != nil:
		return errorOutcome(p, err)
	case info.Mode()&fs.ModeSymlink != 0:
		t, _ := e.readLink(p)
		return pass(p, "a symlink to "+t)
	case !info.Mode().IsRegular():
		return pass(p, "a "+typeName(info.Mode()))
	}
	b, err := e.readFile(p)
	if err != nil {
		return errorOutcome(p, err)
	}
	var servers []string
	confLines(string(b), func(line string, _ int) {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "nameserver" {
			servers = append(servers, f[1])
		}
	})
	if len(servers) > 0 {
		return fail(p, "a symlink, or no nameserver lines", "a file naming nameserver "+strings.Join(servers, ", "))
	}
	return pass(p, "a file without nameservers")
}

// varLogSize wants /var/log small: logs of the build are of no use to a
// node, and an image carrying them is bigger than it should be. Sizes are
// the files' apparent sizes (du counts blocks; a sparse lastlog counts
// whole here).
type varLogSize struct{ limit int64 }

func (v varLogSize) Describe() string { return "/var/log small" }
func (v varLogSize) validate() error  { return nil }

func (v varLogSize) evaluate(e *env) Outcome {
	limit := v.limit
	if limit <= 0 {
		limit = DefaultVarLogLimit
	}
	var total int64
	var biggest string
	var biggestSize int64
	err := e.walk("/var/log", func(p string, d fs.DirEntry) {
		if !d.Type().IsRegular() {
			return
		}
		info, err := d.Info()
		if err != nil {
			return
		}
		total += info.Size()
		if info.Size() > biggestSize {
			biggest, biggestSize = p, info.Size()
		}
	})
	if err != nil {
		return errorOutcome("/var/log", err)
	}
	if total > limit {
		return Outcome{Status: Fail, Path: "/var/log", Expected: "at most " + formatBytes(limit), Found: formatBytes(total),
			Detail: fmt.Sprintf("%s, over %s; the largest file is %s (%s)", formatBytes(total), formatBytes(limit), biggest, formatBytes(biggestSize))}
	}
	return pass("/var/log", fmt.Sprintf("%s (limit %s)", formatBytes(total), formatBytes(limit)))
}

// formatBytes prints a size with a binary unit.
func formatBytes(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	f := float64(n)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
}
