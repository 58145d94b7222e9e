package overlays_test

import (
	"reflect"
	"testing"

	"github.com/strata-dev/strata/checks"
	"github.com/strata-dev/strata/layers/overlays"
	_ "github.com/strata-dev/strata/layers/overlays/debian"
	"github.com/strata-dev/strata/spec"
)

func TestDistroChecks(t *testing.T) {
	d := overlays.Distro{
		Defaults:     spec.Distro{Name: "testos"},
		Family:       "apt",
		BootPackages: []string{"systemd-sysv", "udev"},
		Services:     []string{"systemd-networkd"},
		Files:        []spec.File{{Path: "/etc/hostname", Mode: "0644", Content: "localhost\n"}},
		Links:        []overlays.Link{{Path: "/etc/resolv.conf", Target: "../run/systemd/resolve/stub-resolv.conf"}},
	}
	overlays.RegisterChecks("testos", checks.File{Path: "/boot/vmlinuz-*", Type: "file"})
	var got []checks.Assertion
	for _, c := range d.Checks() {
		if c.Source != "testos overlay" {
			t.Errorf("%s: source %q", c.Assert.Describe(), c.Source)
		}
		got = append(got, c.Assert)
	}
	hostname, stub := "localhost\n", "../run/systemd/resolve/stub-resolv.conf"
	want := []checks.Assertion{
		checks.File{Path: "/etc/hostname", Type: "file", Mode: "0644", Equals: &hostname},
		checks.File{Path: "/etc/resolv.conf", Target: &stub},
		checks.Service{Unit: "systemd-networkd"},
		checks.Package{Name: "systemd-sysv"},
		checks.Package{Name: "udev"},
		checks.File{Path: "/boot/vmlinuz-*", Type: "file"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("checks\n%#v\nwant\n%#v", got, want)
	}
	// An rpm distro's packages are not in dpkg's database, which is all
	// the checks read: its image carries no package checks.
	d.Family = "dnf"
	for _, c := range d.Checks() {
		if _, ok := c.Assert.(checks.Package); ok {
			t.Errorf("a dnf distro has the check %s", c.Assert.Describe())
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("RegisterChecks took an invalid check")
		}
	}()
	overlays.RegisterChecks("testos", checks.File{Path: "relative"})
}

// TestDebianChecks: the Debian overlay's checks follow its data, and hold
// the facts it registered.
func TestDebianChecks(t *testing.T) {
	d, ok := overlays.Lookup("debian")
	if !ok {
		t.Fatal("no debian overlay")
	}
	list := d.Checks()
	want := len(d.Files) + len(d.Links) + len(d.Services) + len(d.BootPackages) + 1
	if len(list) != want {
		t.Errorf("%d checks, want %d", len(list), want)
	}
	seen := map[string]bool{}
	for _, c := range list {
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", c.Assert.Describe(), err)
		}
		seen[c.Assert.Describe()] = true
	}
	for _, d := range []string{"file /etc/resolv.conf", "file /etc/hosts", "service systemd-resolved.service", "package systemd-boot-efi", "file /boot/config-*"} {
		if !seen[d] {
			t.Errorf("no check %s", d)
		}
	}
	if _, err := checks.Marshal(list); err != nil {
		t.Error(err)
	}
}
