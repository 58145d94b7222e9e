package node

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/buildkit/client/llb"
	"github.com/strata-dev/strata/checks"
	"github.com/strata-dev/strata/layers/overlays"
)

// vendorInput is the golden input for a spec with os.baseDisk: the disk
// comes as the frontend would fetch its URL.
func vendorInput(t *testing.T) Input {
	t.Helper()
	sp := loadSpecFile(t, "testdata/k8s-basedisk.yaml", nil)
	distro, _ := overlays.Lookup(sp.Image.OS.Distro)
	d := sp.Image.OS.BaseDisk
	return Input{
		Spec: sp, Distro: distro, KubernetesDigests: fakeDigests(), StrataVersion: "v0.0.0-golden",
		Tools:    llb.Image("example.test/strata-tools:golden"),
		BaseDisk: &VendorDisk{Dir: llb.HTTP(d.URL, llb.Filename("vendor.qcow2")), From: d.URL},
	}
}

// TestVendorDiskGolden: with os.baseDisk the disk is the vendor's image,
// imported and checked, with every layer (the OS files among them) added
// on top; nothing runs in the vendor's OS. A provider's output gets the
// guest configuration that is files alone, its datasource list, and its
// manifest says that much.
func TestVendorDiskGolden(t *testing.T) {
	g, err := Build(vendorInput(t))
	if err != nil {
		t.Fatal(err)
	}
	compareGolden(t, filepath.Join("testdata", "k8s-basedisk-disk.golden"), dumpGraph(t, g.Disk))
	compareGolden(t, filepath.Join("testdata", "k8s-basedisk-aws.golden"), dumpGraph(t, g.Providers["aws"]))

	disk := dumpGraph(t, g.Disk)
	for _, want := range []string{"import-disk", "--sha256", "--format", "add-layer", "/etc/sysctl.d/90-strata.conf"} {
		if !strings.Contains(disk, want) {
			t.Errorf("the disk graph lacks %q", want)
		}
	}
	for _, never := range []string{"assemble", "apt-get", "sysprep", "update-initramfs"} {
		if strings.Contains(disk, never) {
			t.Errorf("the disk graph of a vendor's disk runs %q", never)
		}
	}
	aws := dumpGraph(t, g.Providers["aws"])
	for _, want := range []string{"--guest-applied=datasources", "/etc/cloud/cloud.cfg.d/90-strata-aws.cfg", "aws datasources"} {
		if !strings.Contains(aws, want) {
			t.Errorf("the aws output of a vendor's disk lacks %q", want)
		}
	}
	if strings.Contains(aws, "update-initramfs") || strings.Contains(aws, `"--guest-applied",`) {
		t.Error("the aws output of a vendor's disk rebuilds the initrd or claims the whole guest configuration")
	}
}

// TestVendorDiskChecks: the checks a vendor's disk carries leave out the
// kernel, boot packages and units of an OS strata builds, and keep the
// node's prerequisites.
func TestVendorDiskChecks(t *testing.T) {
	list, err := Checks(vendorInput(t))
	if err != nil {
		t.Fatal(err)
	}
	var described []string
	for _, c := range list {
		described = append(described, c.Assert.Describe())
		switch a := c.Assert.(type) {
		case checks.Package:
			if a.Name == "linux-image-amd64" || a.Name == "systemd-boot" {
				t.Errorf("a vendor's disk is checked for the package %s strata would have installed", a.Name)
			}
		case checks.Cmdline:
			t.Errorf("a vendor's disk is checked for its kernel argument %s", a.Arg)
		}
	}
	all := strings.Join(described, "\n")
	for _, want := range []string{"conntrack", "vm.max_map_count", "kubelet"} {
		if !strings.Contains(all, want) {
			t.Errorf("no check mentions %q:\n%s", want, all)
		}
	}
}

// TestVendorDiskLayersEverything: whichever way Kubernetes is installed,
// every layer reaches the vendor's disk, the OS files among them.
func TestVendorDiskLayersEverything(t *testing.T) {
	for _, install := range []string{"rootfs", "sysext"} {
		in := vendorInput(t)
		in.Spec = loadSpecFile(t, "testdata/k8s-basedisk.yaml", map[string]string{"KUBERNETES_INSTALL": install})
		g, err := Build(in)
		if err != nil {
			t.Fatal(err)
		}
		disk := dumpGraph(t, g.Disk)
		for _, want := range []string{"/etc/sysctl.d/90-strata.conf", "/etc/strata-release", "/usr/lib/strata/checks.yaml", "/etc/kubernetes-version"} {
			if !strings.Contains(disk, want) {
				t.Errorf("install %s: the disk graph lacks %s", install, want)
			}
		}
	}
}
