package oslayer

import (
	"path"
	"sort"
	"strings"

	"github.com/strata-dev/strata/checks"
)

// ChecksSource is the Source of the checks of what the spec's os section
// asked for.
const ChecksSource = "spec"

// Checks are what the OS layer built from in must have left in the image:
// the kernel and every package installed (for a distro whose packages can
// be checked, see overlays.Distro.PackagesChecked), each file with its content and
// mode, each sysctl in effect and module loaded at boot, the units to
// enable enabled and those to disable disabled; for a Kubernetes node also
// the distro's node prerequisites and the bootstrap's packages and files.
// Only in.OS, in.Distro, in.KubernetesNode and in.Bootstrap are read.
//
// A few things the layer itself undoes are not checked: files that sysprep
// removes or empties (see sysprepped). The distro's own units are the
// overlay's checks (overlays.Distro.Checks).
func Checks(in Input) []checks.Check {
	o := in.OS
	var as []checks.Assertion
	add := func(a ...checks.Assertion) { as = append(as, a...) }

	pkgs := append([]string{o.Kernel}, o.Packages...)
	if in.KubernetesNode {
		pkgs = append(pkgs, in.Distro.KubernetesPackages...)
	}
	var bootstrapFiles []checks.Assertion
	if in.KubernetesNode && in.Bootstrap != "" && in.Bootstrap != "none" {
		b := in.Distro.Bootstraps[in.Bootstrap] // Build refuses a bootstrap the distro lacks
		pkgs = append(pkgs, b.Packages...)
		for _, f := range b.Files {
			bootstrapFiles = append(bootstrapFiles, checks.File{Path: checks.LiteralPath(f.Path), Mode: f.Mode, Equals: ptr(f.Content)})
		}
	}
	for _, p := range pkgs {
		if a, ok := aptPackage(p); ok && in.Distro.PackagesChecked() {
			add(a)
		}
	}
	add(bootstrapFiles...)

	for _, f := range o.Files {
		if sysprepped(f.Path) {
			continue
		}
		c := checks.File{Path: checks.LiteralPath(f.Path), Type: "file", Mode: f.Mode, Equals: ptr(f.Content)}
		if f.Path == in.Distro.Initrd.ModulesFile {
			// A provider's guest configuration appends its initrd drivers.
			c.Equals = nil
			if f.Content != "" {
				c.Contains = []string{f.Content}
			}
		}
		add(c)
	}
	keys := make([]string, 0, len(o.Sysctl))
	for k := range o.Sysctl {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		add(checks.Sysctl{Key: k, Value: o.Sysctl[k]})
	}
	for _, m := range o.Modules {
		add(checks.Module{Name: m})
	}
	for _, u := range o.Services.Enable {
		add(checks.Service{Unit: u})
	}
	for _, u := range o.Services.Disable {
		// Masked is more than disabled, and passes too.
		add(checks.Service{Unit: u, State: []string{"disabled", "masked"}})
	}

	list := make([]checks.Check, len(as))
	for i, a := range as {
		list[i] = checks.Check{Source: ChecksSource, Assert: a}
	}
	return list
}

// aptPackage is the check of a package as apt-get install takes it:
// "name", "name:arch", "name=version" (that exact version, epoch included
// if apt was given one), or "name-", which apt removes. ok is false for an
// entry with nothing to check.
func aptPackage(p string) (checks.Package, bool) {
	name, version, _ := strings.Cut(p, "=")
	if version == "" {
		if n, removed := strings.CutSuffix(name, "-"); removed && n != "" {
			return checks.Package{Name: n, Absent: true}, true
		}
	}
	if name == "" {
		return checks.Package{}, false
	}
	return checks.Package{Name: name, Version: version}, true
}

// The paths sysprepScript removes or empties, so that a file the spec writes
// there is not looked for: directories it empties (prefixes), and
// path.Match patterns of files it removes or truncates.
var (
	sysprepDirs  = []string{"/tmp/", "/var/tmp/", "/var/log/", "/var/lib/apt/lists/", "/var/lib/cloud/"}
	sysprepFiles = []string{"/etc/machine-id", "/var/lib/dbus/machine-id", "/etc/ssh/ssh_host_*_key",
		"/etc/ssh/ssh_host_*_key.pub", "/var/cache/apt/*.bin",
		"/root/.bash_history", "/root/.zsh_history", "/root/.ash_history",
		"/home/*/.bash_history", "/home/*/.zsh_history", "/home/*/.ash_history"}
)

func sysprepped(p string) bool {
	p = path.Clean(p)
	for _, d := range sysprepDirs {
		if strings.HasPrefix(p, d) {
			return true
		}
	}
	for _, f := range sysprepFiles {
		if ok, _ := path.Match(f, p); ok {
			return true
		}
	}
	return false
}

func ptr(s string) *string { return &s }
