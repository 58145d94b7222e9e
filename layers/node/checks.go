package node

import (
	"fmt"
	"reflect"

	"github.com/strata-dev/strata/checks"
	"github.com/strata-dev/strata/layers/kubernetes"
	oslayer "github.com/strata-dev/strata/layers/os"
)

// validateField is the spec field that holds the user's own checks.
const validateField = "validate"

// Checks are the checks a node image is built to pass, in this order: the
// distro overlay's, what the spec's os and disk sections ask for (Source
// "spec"), the Kubernetes layer's, and the spec's own validate: list
// (Source "FILE:LINE", or the entry's source:). A default check asked for
// twice (a package in os.packages that the overlay installs too) is kept
// once, where it is first asked for; the user's checks are kept as they are.
//
// It reads nothing but the spec and the distro. The only error is a
// validate: entry that is no check, reported with its file:line:column
// (a spec.Error or spec.ErrorList).
func Checks(in Input) ([]checks.Check, error) {
	img := in.Spec.Image
	defaults, osSpec, cmdline := in.Distro.Checks(), img.OS, img.Disk.Cmdline
	if img.OS.BaseDisk != nil {
		// The vendor's disk keeps its own kernel, boot packages, units
		// and kernel command line.
		defaults, osSpec.Kernel, cmdline = vendorChecks(defaults), "", ""
	}
	defaults = append(defaults, oslayer.Checks(oslayer.Input{OS: osSpec, Distro: in.Distro,
		KubernetesNode: img.Kubernetes != nil, Bootstrap: bootstrap(img)})...)
	for _, arg := range checks.CmdlineArgs(cmdline) {
		defaults = append(defaults, checks.Check{Source: oslayer.ChecksSource, Assert: checks.Cmdline{Arg: arg}})
	}
	if k := img.Kubernetes; k != nil {
		defaults = append(defaults, kubernetes.Checks(k, in.Distro.Sysext)...)
	}
	list := once(defaults)
	for _, c := range list {
		if err := c.Validate(); err != nil {
			return nil, fmt.Errorf("the %s's check of %s: %w", c.Source, c.Assert.Describe(), err)
		}
	}
	user, err := checks.ParseList(in.Spec.File, img.Validate.Node(), validateField)
	if err != nil {
		return nil, err
	}
	return append(list, user...), nil
}

// once drops the checks that repeat an earlier one's assertion.
func once(list []checks.Check) []checks.Check {
	seen := map[string][]checks.Assertion{}
	out := list[:0:0]
	for _, c := range list {
		d := c.Assert.Describe()
		dup := false
		for _, a := range seen[d] {
			dup = dup || reflect.DeepEqual(a, c.Assert)
		}
		if !dup {
			seen[d] = append(seen[d], c.Assert)
			out = append(out, c)
		}
	}
	return out
}
