package oslayer

import (
	"reflect"
	"strings"
	"testing"

	"github.com/strata-dev/strata/checks"
	"github.com/strata-dev/strata/layers/overlays"
	"github.com/strata-dev/strata/spec"
)

var testDistro = overlays.Distro{
	Defaults:           spec.Distro{Name: "testos"},
	Family:             "apt",
	KubernetesPackages: []string{"conntrack", "socat"},
	Bootstraps: map[string]overlays.Bootstrap{"cloud-init": {Packages: []string{"cloud-init"},
		Files: []spec.File{{Path: "/etc/cloud/cloud.cfg.d/01.cfg", Mode: "0644", Content: "locale: C.UTF-8\n"}}}},
	Initrd: overlays.Initrd{ModulesFile: "/etc/initramfs-tools/modules"},
}

func testOS() spec.OS {
	return spec.OS{
		Kernel:   "linux-image-cloud-amd64",
		Packages: []string{"chrony", "libc6:amd64", "openssh-server=1:9.2p1-2+deb12u3", "nano-", "g++"},
		Files: []spec.File{
			{Path: "/etc/motd", Content: "hi\n", Mode: "0600"},
			{Path: "/etc/odd[1].conf", Content: "", Mode: "0644"},
			{Path: "/var/log/app.log", Content: "emptied by sysprep\n", Mode: "0644"},
			{Path: "/tmp/x", Content: "removed by sysprep\n", Mode: "0644"},
			{Path: "/etc/initramfs-tools/modules", Content: "virtio_blk\n", Mode: "0644"},
		},
		Sysctl:   map[string]string{"vm.swappiness": "10", "net.ipv4.ip_forward": "1"},
		Modules:  []string{"overlay"},
		Services: spec.Services{Enable: []string{"chrony", "fstrim.timer"}, Disable: []string{"apt-daily.timer"}},
	}
}

func assertions(t *testing.T, list []checks.Check) []checks.Assertion {
	t.Helper()
	var out []checks.Assertion
	for _, c := range list {
		if c.Source != ChecksSource {
			t.Errorf("%s: source %q", c.Assert.Describe(), c.Source)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", c.Assert.Describe(), err)
		}
		out = append(out, c.Assert)
	}
	return out
}

func TestChecks(t *testing.T) {
	got := assertions(t, Checks(Input{OS: testOS(), Distro: testDistro}))
	want := []checks.Assertion{
		checks.Package{Name: "linux-image-cloud-amd64"},
		checks.Package{Name: "chrony"},
		checks.Package{Name: "libc6:amd64"},
		checks.Package{Name: "openssh-server", Version: "1:9.2p1-2+deb12u3"},
		checks.Package{Name: "nano", Absent: true},
		checks.Package{Name: "g++"},
		checks.File{Path: "/etc/motd", Type: "file", Mode: "0600", Equals: ptr("hi\n")},
		checks.File{Path: `/etc/odd\[1].conf`, Type: "file", Mode: "0644", Equals: ptr("")},
		checks.File{Path: "/etc/initramfs-tools/modules", Type: "file", Mode: "0644", Contains: []string{"virtio_blk\n"}},
		checks.Sysctl{Key: "net.ipv4.ip_forward", Value: "1"},
		checks.Sysctl{Key: "vm.swappiness", Value: "10"},
		checks.Module{Name: "overlay"},
		checks.Service{Unit: "chrony"},
		checks.Service{Unit: "fstrim.timer"},
		checks.Service{Unit: "apt-daily.timer", State: []string{"disabled", "masked"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("checks:\n%s\nwant:\n%s", describeAll(got), describeAll(want))
		for i := range min(len(got), len(want)) {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Errorf("%d: %#v, want %#v", i, got[i], want[i])
			}
		}
	}
}

// TestChecksKubernetesNode: a node also gets the distro's prerequisites
// and its bootstrap's packages and files, and only with a bootstrap.
func TestChecksKubernetesNode(t *testing.T) {
	o := spec.OS{Kernel: "linux-image-amd64"}
	plain := describeAll(assertions(t, Checks(Input{OS: o, Distro: testDistro})))
	node := describeAll(assertions(t, Checks(Input{OS: o, Distro: testDistro, KubernetesNode: true, Bootstrap: "none"})))
	boot := describeAll(assertions(t, Checks(Input{OS: o, Distro: testDistro, KubernetesNode: true, Bootstrap: "cloud-init"})))
	if plain != "package linux-image-amd64" {
		t.Errorf("plain OS: %s", plain)
	}
	if node != "package linux-image-amd64, package conntrack, package socat" {
		t.Errorf("node without a bootstrap: %s", node)
	}
	if boot != node+", package cloud-init, file /etc/cloud/cloud.cfg.d/01.cfg" {
		t.Errorf("node with cloud-init: %s", boot)
	}
	if got := describeAll(assertions(t, Checks(Input{OS: o, Distro: testDistro, Bootstrap: "cloud-init"}))); got != plain {
		t.Errorf("a bootstrap without a kubernetes section: %s", got)
	}
}

// TestSysprepTableMatchesTheScript: each path the checks skip is one the
// sysprep step clears.
func TestSysprepTableMatchesTheScript(t *testing.T) {
	for _, p := range append(append([]string{}, sysprepDirs...), sysprepFiles...) {
		if !strings.Contains(sysprepScript, strings.TrimSuffix(p, "/")) {
			t.Errorf("sysprep does not clear %s", p)
		}
	}
	for p, want := range map[string]bool{"/tmp/a/b": true, "/var/log/x": true, "/etc/ssh/ssh_host_rsa_key": true,
		"/etc/ssh/sshd_config": false, "/var/logs": false, "/etc/machine-id": true, "/tmp": false} {
		if got := sysprepped(p); got != want {
			t.Errorf("sysprepped(%s) = %v", p, got)
		}
	}
}

func describeAll(as []checks.Assertion) string {
	var d []string
	for _, a := range as {
		d = append(d, a.Describe())
	}
	return strings.Join(d, ", ")
}

// TestChecksRpmDistro: the checks read dpkg's database only, so a dnf
// distro's packages get no checks, and its other checks stay.
func TestChecksRpmDistro(t *testing.T) {
	d := testDistro
	d.Family = "dnf"
	got := assertions(t, Checks(Input{OS: testOS(), Distro: d, KubernetesNode: true, Bootstrap: "cloud-init"}))
	files := 0
	for _, a := range got {
		switch a.(type) {
		case checks.Package:
			t.Errorf("a dnf distro has the check %s", a.Describe())
		case checks.File:
			files++
		}
	}
	if files == 0 {
		t.Error("a dnf distro lost its file checks")
	}
}
