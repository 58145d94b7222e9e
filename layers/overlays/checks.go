package overlays

import (
	"slices"
	"sync"

	"github.com/strata-dev/strata/checks"
	"github.com/strata-dev/strata/llb/packages"
)

// ChecksSource is the Source of a distro's checks: "debian overlay".
func (d Distro) ChecksSource() string { return d.Defaults.Name + " overlay" }

// Checks are what every image of the distro holds because of its overlay:
// its files with their content and mode, its links, its units enabled and
// its boot packages installed (when its family's packages can be checked,
// see PackagesChecked), then the facts the distro registered with
// RegisterChecks. The kernel package is the spec's (os.kernel), and checked
// with the OS layer's checks.
func (d Distro) Checks() []checks.Check {
	var as []checks.Assertion
	for _, f := range d.Files {
		as = append(as, checks.File{Path: checks.LiteralPath(f.Path), Type: "file", Mode: f.Mode, Equals: ptr(f.Content)})
	}
	for _, l := range d.Links {
		as = append(as, checks.File{Path: checks.LiteralPath(l.Path), Target: ptr(l.Target)})
	}
	for _, u := range d.Services {
		as = append(as, checks.Service{Unit: u})
	}
	if d.PackagesChecked() {
		for _, p := range d.BootPackages {
			as = append(as, checks.Package{Name: p})
		}
	}
	checksMu.RLock()
	as = append(as, distroChecks[d.Defaults.Name]...)
	checksMu.RUnlock()
	list := make([]checks.Check, len(as))
	for i, a := range as {
		list[i] = checks.Check{Source: d.ChecksSource(), Assert: a}
	}
	return list
}

// PackagesChecked says whether the image checks can see what the distro
// installs: they read dpkg's database only (checks.Package), so an rpm
// distro's image carries no package checks rather than checks that fail.
func (d Distro) PackagesChecked() bool {
	f, err := packages.Lookup(d.Family)
	return err == nil && f.Dpkg
}

var (
	checksMu     sync.RWMutex
	distroChecks = map[string][]checks.Assertion{}
)

// RegisterChecks adds checks to the named distro's: facts of its layout
// that no field of Distro describes, such as where its kernel packages put
// the kernel's config. A distro's package calls it from init, beside
// Register. It panics on an invalid check, a programming error any test
// importing the distro catches.
func RegisterChecks(distro string, list ...checks.Assertion) {
	for _, a := range list {
		if err := (checks.Check{Source: distro + " overlay", Assert: a}).Validate(); err != nil {
			panic("overlays: " + distro + ": " + a.Describe() + ": " + err.Error())
		}
	}
	checksMu.Lock()
	defer checksMu.Unlock()
	distroChecks[distro] = append(slices.Clone(distroChecks[distro]), list...)
}

func ptr(s string) *string { return &s }
