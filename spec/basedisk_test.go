package spec

import (
	"strings"
	"testing"
)

const vendorSum = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestBaseDiskValid(t *testing.T) {
	for name, doc := range map[string]string{
		"by URL":           "os:\n  baseDisk:\n    url: https://vendor.example/img.qcow2\n    sha256: " + vendorSum + "\n    format: qcow2\n",
		"by URL, sha512":   "os:\n  baseDisk:\n    url: https://vendor.example/img.qcow2\n    sha512: " + strings.Repeat("0a", 64) + "\n",
		"by path":          "os:\n  baseDisk: {path: images/vendor.raw}\n",
		"from the context": "os:\n  baseDisk: {}\n",
		"with files":       "os:\n  baseDisk: {path: v.raw}\n  files: [{path: /etc/motd, content: hi}]\n  sysctl: {net.ipv4.ip_forward: '1'}\n  modules: [br_netfilter]\n",
	} {
		t.Run(name, func(t *testing.T) {
			s := mustLoad(t, "node.yaml", []byte(header+doc), nil)
			if s.Image.OS.BaseDisk == nil {
				t.Fatal("baseDisk not decoded")
			}
		})
	}
}

func TestBaseDiskErrors(t *testing.T) {
	runErrorCases(t, []errorCase{
		{
			name: "a URL without a checksum fails closed",
			doc:  header + "os:\n  baseDisk:\n    url: https://vendor.example/img.qcow2\n",
			want: "node.yaml:5:3: os.baseDisk.sha256: required with os.baseDisk.url: a downloaded disk is checked before anything is added to it; set the image file's sha256 as the vendor publishes it (64 hex digits), or its sha512",
		},
		{
			name: "bad URL, checksum and format",
			doc:  header + "os:\n  baseDisk:\n    url: ftp://vendor.example/img\n    sha256: ABC\n    format: iso\n",
			want: `node.yaml:6:5: os.baseDisk.url: invalid URL "ftp://vendor.example/img"; use an http:// or https:// URL` + "\n" +
				`node.yaml:7:5: os.baseDisk.sha256: invalid sha256 "ABC"; use the 64 lowercase hex digits (as sha256sum prints them)` + "\n" +
				`node.yaml:8:5: os.baseDisk.format: unknown disk image format "iso"; allowed: raw, qcow2, vmdk, vhd`,
		},
		{
			name: "sha512 instead of sha256, one at a time",
			doc:  header + "os:\n  baseDisk:\n    url: https://v.example/d.qcow2\n    sha256: " + vendorSum + "\n    sha512: " + strings.Repeat("ab", 64) + "\n",
			want: "node.yaml:8:5: os.baseDisk.sha512: conflicts with os.baseDisk.sha256; give one checksum",
		},
		{
			name: "a short sha512",
			doc:  header + "os:\n  baseDisk:\n    url: https://v.example/d.qcow2\n    sha512: " + vendorSum + "\n",
			want: `node.yaml:7:5: os.baseDisk.sha512: invalid sha512 "` + vendorSum + `"; use the 128 lowercase hex digits (as sha512sum prints them)`,
		},
		{
			name: "url and path",
			doc:  header + "os:\n  baseDisk: {url: 'https://v.example/d.raw', sha256: " + vendorSum + ", path: d.raw}\n",
			want: "node.yaml:5:120: os.baseDisk.path: conflicts with os.baseDisk.url; give the disk by url or by path, not both",
		},
		{
			name: "a path leaving the context",
			doc:  header + "os:\n  baseDisk: {path: ../d.raw}\n",
			want: `node.yaml:5:14: os.baseDisk.path: invalid path "../d.raw"; give a clean path relative to the build context, such as images/vendor.qcow2`,
		},
		{
			name: "os.base too",
			doc:  header + "os:\n  base: docker.io/library/debian:bookworm\n  baseDisk: {path: d.raw}\n",
			want: "node.yaml:5:3: os.base: conflicts with os.baseDisk; keep one: os.base builds the OS from an OCI image, os.baseDisk adds to a vendor's disk image",
		},
		{
			name: "steps that need the OS to run, each at its line",
			doc:  header + "os:\n  baseDisk: {path: d.raw}\n  kernel: linux-image-amd64\n  packages: [curl]\n  packageSecret: apt\n  run: [echo hi]\n  services: {enable: [chrony]}\n",
			want: "node.yaml:6:3: os.kernel: not possible with os.baseDisk: a stock disk is not rebuilt, and the kernel is the vendor disk's own; add files with os.files, or build the OS from an OCI image with os.base\n" +
				"node.yaml:7:3: os.packages: not possible with os.baseDisk: a stock disk is not rebuilt, and no package manager runs in it; add files with os.files, or build the OS from an OCI image with os.base\n" +
				"node.yaml:8:3: os.packageSecret: not possible with os.baseDisk: a stock disk is not rebuilt, and no package manager runs in it; add files with os.files, or build the OS from an OCI image with os.base\n" +
				"node.yaml:9:3: os.run: not possible with os.baseDisk: a stock disk is not rebuilt, and no command runs in it; add files with os.files, or build the OS from an OCI image with os.base\n" +
				"node.yaml:10:3: os.services: not possible with os.baseDisk: a stock disk is not rebuilt, and systemctl never runs in it to read the units' [Install] sections; add files with os.files, or build the OS from an OCI image with os.base",
		},
		{
			name: "the vendor's layout is kept",
			doc:  header + "os:\n  baseDisk: {path: d.raw}\ndisk:\n  size: 4GiB\n  root: {label: r}\n",
			want: "node.yaml:7:3: disk.size: not possible with os.baseDisk: the vendor's disk keeps its own partitions, boot loader and kernel arguments; remove disk.size\n" +
				"node.yaml:8:3: disk.root: not possible with os.baseDisk: the vendor's disk keeps its own partitions, boot loader and kernel arguments; remove disk.root",
		},
	})
}

// TestBaseDiskBuildArg: a build arg setting a refused field is blamed.
func TestBaseDiskBuildArg(t *testing.T) {
	_, err := Load("node.yaml", []byte(header+"os:\n  baseDisk: {path: d.raw}\n"), map[string]string{"OS_KERNEL": "linux-image-cloud-amd64"}, testDistros)
	if err == nil || !strings.Contains(err.Error(), "os.kernel: not possible with os.baseDisk") || !strings.Contains(err.Error(), "(set by build arg OS_KERNEL)") {
		t.Fatalf("got %v", err)
	}
}

// TestBaseDiskTargets: with a vendor's disk the os and rootfs targets are
// refused at os.baseDisk, the disk targets take any bootloader the distro
// defaults to, and a spec built from an OCI base is unaffected.
func TestBaseDiskTargets(t *testing.T) {
	vendor := mustLoad(t, "node.yaml", []byte(header+"os:\n  baseDisk: {path: d.raw}\n"), nil)
	for _, target := range []string{"os", "rootfs"} {
		err := vendor.CheckBuildsOS(target)
		if err == nil || !strings.Contains(err.Error(), "node.yaml:5:3: os.baseDisk: target "+target+" needs the OS built from an OCI image") {
			t.Errorf("target %s: got %v", target, err)
		}
	}
	grub := map[string]Distro{"rocky": {Name: "rocky", Kernel: "kernel", Bootloader: "grub"}}
	for doc, refused := range map[string]bool{
		"os:\n  distro: rocky\n  baseDisk: {path: d.raw}\n": false,
		"os:\n  distro: rocky\n  base: rockylinux:9\n":      true,
	} {
		sp, err := Load("node.yaml", []byte(header+doc), nil, grub)
		if err != nil {
			t.Fatal(err)
		}
		if err := sp.CheckDisk(); (err != nil) != refused {
			t.Errorf("%q: the disk targets with the distro's grub: %v, want refused %v", doc, err, refused)
		}
	}
	own := mustLoad(t, "node.yaml", []byte(header+"os:\n  base: docker.io/library/debian:bookworm\n"), nil)
	if err := own.CheckBuildsOS("rootfs"); err != nil {
		t.Errorf("rootfs of an OCI-based spec: %v", err)
	}
}

// TestVendorDiskOnlyDistro: a distro installed from its vendor's disk
// alone (Flatcar) needs os.baseDisk, defaults to its own install and
// bootstrap, refuses install: rootfs on its read-only /usr, and a distro
// without a bootstrap refuses it at its line.
func TestVendorDiskOnlyDistro(t *testing.T) {
	distros := map[string]Distro{
		"flatcar": {Name: "flatcar", Bootloader: "grub", Install: "sysext", Bootstrap: "ignition",
			Bootstraps: []string{"ignition"}, VendorDiskOnly: true, ReadOnlyUsr: true},
		"debian": {Name: "debian", Kernel: "linux-image-amd64", Bootstraps: []string{"cloud-init"}},
	}
	k8s := "kubernetes: {" + k8sPins + "}\n"
	sp, err := Load("node.yaml", []byte(header+"os:\n  distro: flatcar\n  baseDisk: {path: flatcar.img}\n"+k8s), nil, distros)
	if err != nil {
		t.Fatal(err)
	}
	if k := sp.Image.Kubernetes; k.Install != "sysext" || k.Bootstrap != "ignition" {
		t.Errorf("flatcar's defaults: install %q, bootstrap %q", k.Install, k.Bootstrap)
	}
	for doc, want := range map[string]string{
		"os:\n  distro: flatcar\n": "node.yaml:5:3: os.distro: distro flatcar is installed from its vendor's disk image only: set os.baseDisk",
		"os:\n  distro: flatcar\n  baseDisk: {path: f.img}\n" + strings.Replace(k8s, "{", "{install: rootfs, ", 1): "kubernetes.install: rootfs is not possible on flatcar, whose /usr is a read-only partition of its own; use sysext",
		"os:\n  distro: debian\n" + strings.Replace(k8s, "{", "{bootstrap: ignition, ", 1):                         "kubernetes.bootstrap: distro debian has no ignition bootstrap; use one of: cloud-init, none",
	} {
		_, err := Load("node.yaml", []byte(header+doc), nil, distros)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", doc, err, want)
		}
	}
}
