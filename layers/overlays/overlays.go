// Package overlays is the registry of per-distro overlays. An overlay is the
// small set of facts and files in which one distro differs from another; each
// distro lives in its own sub-package and registers itself from init, so adding
// a distro never touches the code that builds the graphs.
package overlays

import (
	"fmt"
	"sort"
	"sync"

	"github.com/strata-dev/strata/layers/sysext"
	"github.com/strata-dev/strata/spec"
)

// Distro describes one distro: its spec defaults, how it installs packages and
// what it needs on top of the base image to boot as a VM.
type Distro struct {
	// Defaults fills the spec fields the user left empty (kernel, bootloader, cmdline).
	Defaults spec.Distro
	// Family names the package manager family (see llb/packages).
	Family string
	// BootPackages are installed with the kernel: what a bare container base
	// lacks to boot (init, udev, initramfs generator, the EFI boot loader).
	BootPackages []string
	// Services are enabled in every image of this distro, before the spec's own.
	Services []string
	// Files are the overlay graph's content: config that makes the OS behave
	// as a VM (network, host keys), kept apart so the OS graph stays generic.
	Files []spec.File
	// Links are symlinks the overlay graph writes beside Files.
	Links []Link
	// KubernetesPackages are what a Kubernetes node needs from the distro
	// (kubeadm's preflight tools, runc's libraries); installed only when the
	// spec has a kubernetes section, and independent of its versions.
	KubernetesPackages []string
	// Bootstraps are what each kubernetes.bootstrap other than none
	// installs, keyed by its name; a bootstrap the distro lacks is an
	// error.
	Bootstraps map[string]Bootstrap
	// KubeletEnvFile is where the distro keeps KUBELET_EXTRA_ARGS.
	KubeletEnvFile string
	// Initrd is how the distro adds drivers to its initrd, for the
	// providers whose disks need them at boot.
	Initrd Initrd
	// Sysext is where the distro keeps system extensions (install:
	// sysext); the zero Layout is strata's own.
	Sysext sysext.Layout
}

// Bootstrap is one way a node becomes a cluster member on first boot.
type Bootstrap struct {
	// Packages are installed in the OS layer of a Kubernetes node.
	Packages []string
	// Files configure them, written right after the install.
	Files []spec.File
}

// Link is a symlink at Path pointing at Target.
type Link struct {
	Path, Target string
}

// Initrd names the distro's initrd generator's knobs.
type Initrd struct {
	// ModulesFile takes one line per module, as Line makes it.
	ModulesFile string
	// Line is the printf format of a module's line in ModulesFile, with
	// one %s for its name; empty is the bare name (initramfs-tools).
	// It must hold no single quote: the line is written by a shell
	// printf whose format is single-quoted.
	Line string
	// Rebuild regenerates the initrd of every installed kernel.
	Rebuild string
}

// ModuleLine is the printf format of one module's line in ModulesFile.
func (i Initrd) ModuleLine() string {
	if i.Line == "" {
		return "%s"
	}
	return i.Line
}

// CloudInitLocale is the cloud-init bootstrap's locale file: cloud-init
// sets en_US.UTF-8 unless told otherwise, which a base without generated
// locales lacks, so its locale module would fail on every first boot.
var CloudInitLocale = spec.File{Path: "/etc/cloud/cloud.cfg.d/01_strata_locale.cfg", Mode: "0644",
	Content: "# written by strata: a locale every glibc has built in\nlocale: C.UTF-8\n"}

var (
	mu       sync.RWMutex
	registry = map[string]Distro{}
)

// Register adds a distro; it panics on a duplicate because that is a
// programming error caught by any test that imports both.
func Register(d Distro) {
	mu.Lock()
	defer mu.Unlock()
	name := d.Defaults.Name
	if _, dup := registry[name]; dup {
		panic(fmt.Sprintf("overlays: distro %q registered twice", name))
	}
	registry[name] = d
}

// Lookup returns the registered distro called name.
func Lookup(name string) (Distro, bool) {
	mu.RLock()
	defer mu.RUnlock()
	d, ok := registry[name]
	return d, ok
}

// Defaults returns every registered distro's spec defaults, keyed by name, in
// the form spec.Load validates against.
func Defaults() map[string]spec.Distro {
	mu.RLock()
	defer mu.RUnlock()
	out := make(map[string]spec.Distro, len(registry))
	for name, d := range registry {
		def := d.Defaults
		def.Bootstraps = make([]string, 0, len(d.Bootstraps))
		for b := range d.Bootstraps {
			def.Bootstraps = append(def.Bootstraps, b)
		}
		sort.Strings(def.Bootstraps)
		out[name] = def
	}
	return out
}

// Names lists the registered distros, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	names := make([]string, 0, len(registry))
	for name := range registry {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}
