package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-dev/strata/e2e/ocilayout"
	"github.com/strata-dev/strata/layers/overlays/debian"
)

// The os.baseDisk tier: a node built on a disk strata did not make. The
// vendor's disk is made here as a distro makes its cloud image: its root
// filesystem by mmdebstrap (e2e/cmd/mkbase, from the host's apt sources),
// its disk by e2e/vendordisk.sh (sfdisk, mke2fs -d, mkfs.vfat, mtools; the
// layout of Debian's cloud images), published as qcow2 by qemu-img. No
// real vendor image is reachable from this machine; the production path
// (a URL and its published sha256) is the one TestVendorDiskByURL takes
// against a loopback server.

// vendorImage is the vendor's disk, made once.
type vendorImage struct {
	raw, qcow2, sha256 string
}

var vendorDisk = sync.OnceValues(func() (*vendorImage, error) {
	dir := filepath.Join(env.workDir, "vendor")
	tree := filepath.Join(dir, "rootfs")
	if err := vendorRootfs(tree); err != nil {
		return nil, err
	}
	defer os.RemoveAll(tree)
	img := &vendorImage{raw: filepath.Join(dir, "vendor.raw"), qcow2: filepath.Join(dir, "vendor.qcow2")}
	if out, err := run(10*time.Minute, env.repo, "e2e/vendordisk.sh", tree, img.raw); err != nil {
		return nil, fmt.Errorf("e2e/vendordisk.sh: %w\n%s", err, out)
	}
	if out, err := exec.Command("qemu-img", "convert", "-O", "qcow2", img.raw, img.qcow2).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("qemu-img convert: %w\n%s", err, out)
	}
	var err error
	if img.sha256, err = sha256File(img.qcow2); err != nil {
		return nil, err
	}
	return img, nil
})

// vendorRootfs unpacks into dir a Debian 12 that mmdebstrap made with what
// a Kubernetes-ready cloud image ships: a kernel and systemd-boot, the
// node prerequisites and cloud-init that the node's checks look for (the
// debian overlay's lists). Then the vendor's own setup: an empty
// machine-id, no apt lists, systemd-networkd on, and the test's check unit enabled; the
// unit itself comes with the node spec's os.files, so the link dangles
// until strata's layer adds it (os.services needs systemctl, which never
// runs in a vendor's OS).
func vendorRootfs(dir string) error {
	d := debian.Distro()
	pkgs := append([]string{d.Defaults.Kernel}, d.BootPackages...)
	pkgs = append(append(pkgs, d.KubernetesPackages...), d.Bootstraps["cloud-init"].Packages...)
	out, err := run(20*time.Minute, env.repo, "go", "run", "./e2e/cmd/mkbase", "-cache", filepath.Join(env.cacheDir, "base"),
		"-include", strings.Join(pkgs, ","))
	if err != nil {
		return fmt.Errorf("mmdebstrap for the vendor's root filesystem: %w", err)
	}
	layout, _, _ := strings.Cut(strings.TrimPrefix(lastLine(out), "oci-layout://"), "@")
	layers, err := ocilayout.LayerBlobs(layout)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, l := range layers {
		if out, err := exec.Command("tar", "-xpf", l, "-C", dir, "--numeric-owner", "--xattrs", "--xattrs-include=*").CombinedOutput(); err != nil {
			return fmt.Errorf("unpacking %s: %w\n%s", l, err, out)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "etc/machine-id"), nil, 0o444); err != nil {
		return err
	}
	lists, _ := filepath.Glob(filepath.Join(dir, "var/lib/apt/lists/*"))
	for _, l := range lists {
		if err := os.RemoveAll(l); err != nil {
			return err
		}
	}
	for link, target := range map[string]string{
		"etc/systemd/system/multi-user.target.wants/systemd-networkd.service":  "/lib/systemd/system/systemd-networkd.service",
		"etc/systemd/system/multi-user.target.wants/strata-node-check.service": "/etc/systemd/system/strata-node-check.service",
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, link)), 0o755); err != nil {
			return err
		}
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil && !os.IsExist(err) {
			return err
		}
	}
	return nil
}

// vendorSpec writes, in a directory of its own with the vendor's qcow2
// beside it, e2e/testdata/k8s-node.yaml turned into a spec on that disk:
// os.baseDisk with the given source lines, and without what a vendor's
// disk decides itself (the disk section) or what needs its OS to run
// (os.services). It returns the spec's path.
func vendorSpec(t *testing.T, img *vendorImage, baseDisk string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(env.repo, k8sSpec))
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	for _, edit := range []struct{ old, new string }{
		{"name: e2e-k8s-node\n", "name: e2e-vendor-node\n"},
		{"os:\n  distro: debian\n", "os:\n  distro: debian\n  baseDisk:\n" + baseDisk},
		{"  services:\n    enable: [strata-node-check]\n", ""},
		{"disk:\n  size: 4GiB\n  cmdline: \"console=ttyS0\"\n", ""},
	} {
		if !strings.Contains(s, edit.old) {
			t.Fatalf("%s lacks %q, which the vendor spec is made by replacing", k8sSpec, edit.old)
		}
		s = strings.Replace(s, edit.old, edit.new, 1)
	}
	dir := t.TempDir()
	if err := os.Link(img.qcow2, filepath.Join(dir, "vendor.qcow2")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "vendor-node.yaml")
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// vendorNode is the node built on the vendor's disk from the build
// context, once.
var vendorNode = struct {
	once sync.Once
	disk string
	err  error
}{}

func vendorNodeDisk(t *testing.T) (*vendorImage, string) {
	t.Helper()
	r, srv := requireRelease(t)
	img, err := vendorDisk()
	if err != nil {
		t.Fatal(err)
	}
	vendorNode.once.Do(func() {
		spec := vendorSpec(t, img, "    path: vendor.qcow2\n    format: qcow2\n    sha256: "+img.sha256+"\n")
		out := filepath.Join(env.workDir, "vendor-node")
		log, err := strataBuildWith(spec, "disk", out, false, versionArgs(r, srv.URL())...)
		if err != nil {
			vendorNode.err = fmt.Errorf("strata build on the vendor's disk: %w\n%s", err, tail(log, 60))
			return
		}
		t.Log(lastLine(log))
		vendorNode.disk = filepath.Join(out, "disk.raw")
	})
	if vendorNode.err != nil {
		t.Fatal(vendorNode.err)
	}
	return img, vendorNode.disk
}

// TestVendorDiskLayout: the node's disk is the vendor's with the layers
// added to its root: the same partitions with the same identifiers, the
// ESP and BIOS boot partition byte for byte the vendor's, and the root
// holding Kubernetes and the files the spec writes. The disk target ran
// the image's validation to get there.
func TestVendorDiskLayout(t *testing.T) {
	r, _ := requireRelease(t)
	img, disk := vendorNodeDisk(t)
	vendor, node := sfdisk(t, img.raw), sfdisk(t, disk)
	if vendor.ID != node.ID || len(vendor.Partitions) != len(node.Partitions) {
		t.Fatalf("the partition table changed: vendor %+v, node %+v", vendor, node)
	}
	for i, p := range vendor.Partitions {
		q := node.Partitions[i]
		if p.Start != q.Start || p.Size != q.Size || p.Type != q.Type || p.UUID != q.UUID || p.Name != q.Name {
			t.Errorf("partition %d changed: vendor %+v, node %+v", i, p, q)
		}
	}
	for _, p := range vendor.Partitions {
		if p.Type == "C12A7328-F81F-11D2-BA4B-00A0C93EC93B" || p.Type == "21686148-6449-6E6F-744E-656564454649" {
			if !bytes.Equal(readRange(t, img.raw, p.Start, p.Size), readRange(t, disk, p.Start, p.Size)) {
				t.Errorf("partition %s (%s) differs from the vendor's", p.Node, p.Type)
			}
		}
	}
	root := vendor.Partitions[0]
	fs := extract(t, disk, root.Start, root.Size)
	checkDebugfs(t, fs, map[string]string{
		"cat /etc/kubernetes-version": r.Kubernetes,
		"stat /usr/bin/kubelet":       "Type: regular",
		"stat /etc/systemd/system/multi-user.target.wants/kubelet.service": "Type: symlink",
		"cat /etc/sysctl.d/99-kubernetes.conf":                             "net.ipv4.ip_forward",
		"stat /usr/local/bin/strata-node-check":                            "Type: regular",
		"cat /etc/strata-release":                                          "SPEC_NAME=e2e-vendor-node",
		"stat /usr/lib/strata/checks.yaml":                                 "Type: regular",
		"stats":                                                            "Filesystem volume name:   vendor-root",
	})
}

// TestVendorDiskBoots boots the node built on the vendor's disk through
// every check the node built from an OCI base passes: the vendor's boot
// loader and kernel, strata's Kubernetes layer.
func TestVendorDiskBoots(t *testing.T) {
	r, _ := requireRelease(t)
	_, disk := vendorNodeDisk(t)
	bootAndExpect(t, disk, "vendor-console.log", append(nodeCheckLines(r), "node-check os: debian bookworm systemd 252"),
		[]string{"node-check FAILED"})
}

// TestVendorDiskSysextBoots: with install: sysext, the Kubernetes layer
// goes onto the vendor's disk as a system extension (the way the flatcar
// overlay adds it), and the vendor's systemd merges it at boot.
func TestVendorDiskSysextBoots(t *testing.T) {
	r, srv := requireRelease(t)
	img, err := vendorDisk()
	if err != nil {
		t.Fatal(err)
	}
	spec := vendorSpec(t, img, "    path: vendor.qcow2\n    sha256: "+img.sha256+"\n")
	out := filepath.Join(t.TempDir(), "out")
	log, err := strataBuildWith(spec, "disk", out, false,
		append(versionArgs(r, srv.URL()), "--build-arg", "KUBERNETES_INSTALL=sysext")...)
	if err != nil {
		t.Fatalf("strata build with install: sysext on the vendor's disk: %v\n%s", err, tail(log, 40))
	}
	t.Log(lastLine(log))
	bootSysextNode(t, r, filepath.Join(out, "disk.raw"), "vendor-sysext-console.log")
}

// TestVendorDiskByURL: the production path, os.baseDisk.url with the
// published sha256, from a loopback server: BuildKit downloads and checks
// it, and the disk equals the one built from the build context, as does
// the one built from the os-disk context. With a
// wrong sha256 the build fails before anything is added, both by URL
// (BuildKit's check) and by path (strata import-disk's).
func TestVendorDiskByURL(t *testing.T) {
	r, srv := requireRelease(t)
	img, fromPath := vendorNodeDisk(t)
	var served sync.Map
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		served.Store(req.URL.Path, true)
		http.ServeFile(w, req, img.qcow2)
	}))
	defer ts.Close()
	wrong := strings.Repeat("0", 64)

	spec := vendorSpec(t, img, "    url: "+ts.URL+"/images/vendor.qcow2\n    sha256: "+img.sha256+"\n")
	out := filepath.Join(t.TempDir(), "out")
	log, err := strataBuildWith(spec, "disk", out, false, versionArgs(r, srv.URL())...)
	if err != nil {
		t.Fatalf("strata build with os.baseDisk.url: %v\n%s", err, tail(log, 40))
	}
	t.Log(lastLine(log))
	if _, ok := served.Load("/images/vendor.qcow2"); !ok {
		t.Error("the build never fetched os.baseDisk.url")
	}
	// The two specs differ in their os.baseDisk lines, so in their digest,
	// which /etc/strata-release records: the disks differ in that file's
	// block and the metadata naming it, and nowhere else.
	n := differingBlocks(t, filepath.Join(out, "disk.raw"), fromPath)
	t.Logf("the disks built from os.baseDisk.url and from os.baseDisk.path differ in %d blocks of 4 KiB", n)
	if n == 0 || n > 16 {
		t.Errorf("the disks built from os.baseDisk.url and from os.baseDisk.path differ in %d blocks of 4 KiB, want a few (/etc/strata-release)", n)
	}

	// The os-disk context replaces url and path: a directory holding the
	// image alone.
	only := filepath.Join(t.TempDir(), "os-disk")
	if err := os.MkdirAll(only, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(img.qcow2, filepath.Join(only, "vendor.qcow2")); err != nil {
		t.Fatal(err)
	}
	fromContext := filepath.Join(t.TempDir(), "out")
	log, err = strataBuildWith(vendorSpec(t, img, "    format: qcow2\n"), "disk", fromContext, false,
		append(versionArgs(r, srv.URL()), "--build-context", "os-disk="+only)...)
	if err != nil {
		t.Fatalf("strata build with the os-disk context: %v\n%s", err, tail(log, 40))
	}
	if !strings.Contains(log, "import the base disk from context os-disk") {
		t.Errorf("the build did not import the os-disk context:\n%s", tail(log, 40))
	}
	if n := differingBlocks(t, filepath.Join(fromContext, "disk.raw"), fromPath); n == 0 || n > 16 {
		t.Errorf("the disks built from the os-disk context and from os.baseDisk.path differ in %d blocks of 4 KiB, want a few (/etc/strata-release)", n)
	}

	for name, c := range map[string]struct{ baseDisk, want string }{
		"url":  {"    url: " + ts.URL + "/images/other.qcow2\n    sha256: " + wrong + "\n", "sha256:" + wrong},
		"path": {"    path: vendor.qcow2\n    sha256: " + wrong + "\n", "has sha256 " + img.sha256 + ", want " + wrong},
		// BuildKit checks sha256 only: a sha512 is import-disk's.
		"url, sha512": {"    url: " + ts.URL + "/images/vendor.qcow2\n    sha512: " + wrong + wrong + "\n", ", want " + wrong + wrong + " (os.baseDisk.sha512)"},
	} {
		t.Run("wrong sha256 by "+name, func(t *testing.T) {
			spec := vendorSpec(t, img, c.baseDisk)
			log, err := strataBuildWith(spec, "disk", filepath.Join(t.TempDir(), "out"), false, versionArgs(r, srv.URL())...)
			if err == nil {
				t.Fatalf("a base disk with the wrong sha256 was built on:\n%s", tail(log, 20))
			}
			if !strings.Contains(log, c.want) {
				t.Errorf("the failure does not say %q:\n%s", c.want, tail(log, 30))
			}
		})
	}
}

// TestVendorDiskVersionBump: a kubernetes.version bump over the same
// vendor's disk imports nothing again, adds the container runtime not
// again, and converts that OS disk not again: the qemu image copies the compressed clusters the layer left
// alone from the vendor disk's own conversion. It logs the times and the
// clusters reused (docs/benchmarks.md).
func TestVendorDiskVersionBump(t *testing.T) {
	r, srv := requireRelease(t)
	img, _ := vendorNodeDisk(t)
	spec := vendorSpec(t, img, "    path: vendor.qcow2\n    sha256: "+img.sha256+"\n")
	build := func(rel *release) (string, time.Duration) {
		t.Helper()
		out := filepath.Join(t.TempDir(), "out")
		start := time.Now()
		log, err := strataBuildWith(spec, "qemu", out, false, versionArgs(rel, srv.URL())...)
		if err != nil {
			t.Fatalf("the qemu target at Kubernetes %s: %v\n%s", rel.Kubernetes, err, tail(log, 40))
		}
		return log, time.Since(start)
	}
	_, cold := build(r.previous())
	log, bump := build(r)
	// The OS disk's steps are shared with the disk target's, whose names
	// BuildKit may show instead.
	for _, step := range []string{" os] import the base disk", " os] add os files, container runtime", "[qemu os] convert disk.raw"} {
		if !plainCached(log, step) {
			t.Errorf("the version bump ran %q again", step)
		}
	}
	m := regexp.MustCompile(`reused (\d+) of (\d+) clusters`).FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("the bump's conversion reports no reused clusters:\n%s", tail(log, 40))
	}
	reused, _ := strconv.Atoi(m[1])
	all, _ := strconv.Atoi(m[2])
	t.Logf("vendor disk, qemu target: at Kubernetes %s %s, bumped to %s %s; the conversion reused %d of %d clusters",
		r.previous().Kubernetes, cold.Round(time.Second), r.Kubernetes, bump.Round(time.Second), reused, all)
	// The vendor's OS is most of the disk's data; the layer, a third.
	if reused*2 < all {
		t.Errorf("the bump's conversion reused only %d of %d clusters", reused, all)
	}
}

// plainCached says whether the step whose name holds part came from
// cache, as --progress plain reports it ("#N CACHED").
func plainCached(log, part string) bool {
	ids := map[string]bool{}
	for _, line := range strings.Split(log, "\n") {
		id, rest, ok := strings.Cut(line, " ")
		if !ok || !strings.HasPrefix(id, "#") {
			continue
		}
		if strings.HasPrefix(rest, "[") && strings.Contains(rest, part) {
			ids[id] = true
		}
		if rest == "CACHED" && ids[id] {
			return true
		}
	}
	return false
}

// differingBlocks counts the 4 KiB blocks in which two disks differ, or
// fails when their sizes do.
func differingBlocks(t *testing.T, a, b string) int {
	t.Helper()
	fa, err := os.Open(a)
	if err != nil {
		t.Fatal(err)
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		t.Fatal(err)
	}
	defer fb.Close()
	sa, _ := fa.Stat()
	sb, _ := fb.Stat()
	if sa.Size() != sb.Size() {
		t.Fatalf("%s has %d bytes, %s %d", a, sa.Size(), b, sb.Size())
	}
	const block = 4096
	ba, bb := make([]byte, 1<<20), make([]byte, 1<<20)
	n := 0
	for off := int64(0); off < sa.Size(); off += int64(len(ba)) {
		na, _ := fa.ReadAt(ba, off)
		nb, _ := fb.ReadAt(bb, off)
		if na != nb {
			t.Fatalf("short read at %d", off)
		}
		for i := 0; i < na; i += block {
			if !bytes.Equal(ba[i:min(i+block, na)], bb[i:min(i+block, na)]) {
				n++
			}
		}
	}
	return n
}

// readRange reads sectors [start, start+n) of disk.
func readRange(t *testing.T, disk string, start, n int64) []byte {
	t.Helper()
	f, err := os.Open(disk)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n*512)
	if _, err := f.ReadAt(b, start*512); err != nil {
		t.Fatal(err)
	}
	return b
}
