package disk

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// foreignPart is one partition of a disk strata did not assemble, made the
// way a vendor makes one: sfdisk for the table, mke2fs -d at the
// partition's offset, a FAT image copied into place.
type foreignPart struct {
	num        int
	name, typ  string
	mib        int64
	fill       func(t *testing.T, img string, off, size int64)
	unreadable bool // fill writes no filesystem
}

// makeForeignDisk writes the partitions, in order from 1 MiB on, to a
// sparse image and returns its path.
func makeForeignDisk(t *testing.T, parts []foreignPart) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "vendor.raw")
	var total int64 = 2
	for _, p := range parts {
		total += p.mib
	}
	f, err := os.Create(img)
	must(t, err)
	must(t, f.Truncate(total<<20))
	must(t, f.Close())
	var script strings.Builder
	script.WriteString("label: gpt\n")
	start := int64(1 << 20)
	for _, p := range parts {
		fmt.Fprintf(&script, "%s%d : start=%d, size=%d, type=%s, name=%q\n", img, p.num, start/512, p.mib<<20/512, p.typ, p.name)
		start += p.mib << 20
	}
	cmd := exec.Command("sfdisk", "-q", img)
	cmd.Stdin = strings.NewReader(script.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	start = 1 << 20
	for _, p := range parts {
		if p.fill != nil {
			p.fill(t, img, start, p.mib<<20)
		}
		start += p.mib << 20
	}
	return img
}

// ext4Fill makes an ext (kind ext2 or ext4) from the files given.
func ext4Fill(kind string, files map[string]string) func(*testing.T, string, int64, int64) {
	return func(t *testing.T, img string, off, size int64) {
		tree := t.TempDir()
		for p, c := range files {
			must(t, os.MkdirAll(filepath.Join(tree, filepath.Dir(p)), 0o755))
			must(t, os.WriteFile(filepath.Join(tree, p), []byte(c), 0o644))
		}
		run(t, "mke2fs", "-t", kind, "-q", "-F", "-d", tree, "-E", "offset="+strconv.FormatInt(off, 10), img, strconv.FormatInt(size>>10, 10)+"k")
	}
}

// espFill makes a FAT32 holding files that are not strata's boot files.
func espFill(files map[string]string) func(*testing.T, string, int64, int64) {
	return func(t *testing.T, img string, off, size int64) {
		esp := filepath.Join(t.TempDir(), "esp.img")
		var fs []espFile
		for p, c := range files {
			fs = append(fs, espFile{Path: p, Data: []byte(c)})
		}
		must(t, buildESP(esp, size, 0x1234abcd, fixtureEpoch, fs))
		writeAt(t, img, off, mustRead(t, esp))
	}
}

// bytesFill writes b at the partition's start plus at.
func bytesFill(at int64, b []byte) func(*testing.T, string, int64, int64) {
	return func(t *testing.T, img string, off, _ int64) { writeAt(t, img, off+at, b) }
}

// btrfsStandIn is not a btrfs: mkfs.btrfs is not installed here, so only
// the magic number the probe reads is written.
var btrfsStandIn = bytesFill(0x10040, []byte("_BHRfS_M"))

func writeAt(t *testing.T, img string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(img, os.O_WRONLY, 0)
	must(t, err)
	defer f.Close()
	_, err = f.WriteAt(b, off)
	must(t, err)
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	must(t, err)
	return b
}

// flatcarDisk is laid out as Flatcar's SDK documents its image (see
// flatcarPartitions), with small sizes.
func flatcarDisk(t *testing.T, root func(*testing.T, string, int64, int64)) string {
	return makeForeignDisk(t, []foreignPart{
		{num: 1, name: "EFI-SYSTEM", typ: TypeESP, mib: 64, fill: espFill(map[string]string{
			"/EFI/boot/bootx64.efi":  "vendor shim, not strata's\n",
			"/flatcar/grub/grub.cfg": "set linux_append=\"flatcar.autologin\"\n",
		})},
		{num: 2, name: "BIOS-BOOT", typ: "21686148-6449-6E6F-744E-656564454649", mib: 2, fill: bytesFill(0, randomBytes(64<<10, 3))},
		{num: 3, name: "USR-A", typ: TypeCoreOSUsr, mib: 16, fill: ext4Fill("ext2", map[string]string{"bin/bash": "the vendor's /usr\n"})},
		{num: 4, name: "USR-B", typ: TypeCoreOSUsr, mib: 16},
		{num: 6, name: "OEM", typ: TypeLinuxData, mib: 8, fill: btrfsStandIn},
		{num: 9, name: "ROOT", typ: TypeCoreOSResize, mib: 64, fill: root},
	})
}

// TestAddLayerFlatcarLayout: the layer lands on ROOT, and no byte outside
// ROOT changes: not the ESP's vendor files, not USR-A.
func TestAddLayerFlatcarLayout(t *testing.T) {
	requireTools(t, "sfdisk", "mke2fs", "debugfs", "e2fsck")
	base := flatcarDisk(t, ext4Fill("ext4", map[string]string{"etc/os-release": "ID=flatcar\n"}))
	r, err := Inspect(base)
	must(t, err)
	if fs := r.Partitions[4].Filesystem; r.Partitions[4].Name != "OEM" || fs == nil || fs.Type != "btrfs" {
		t.Errorf("OEM: want btrfs recognised, got %+v", r.Partitions[4])
	}

	if len(r.Problems) != 0 || len(r.GRUB) == 0 {
		t.Errorf("Flatcar's GRUB ESP: problems %q, GRUB files %q", r.Problems, r.GRUB)
	}

	// The flatcar overlay's layer: the Kubernetes extension where
	// Flatcar's tooling puts it, its symlink, configuration in /etc.
	layer := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(layer, "etc/kubernetes"), 0o755))
	must(t, os.WriteFile(filepath.Join(layer, "etc/kubernetes/kubelet.conf"), []byte("layer\n"), 0o644))
	must(t, os.MkdirAll(filepath.Join(layer, "opt/extensions/kubernetes"), 0o755))
	must(t, os.WriteFile(filepath.Join(layer, "opt/extensions/kubernetes/kubernetes-v1.31.2-x86-64.raw"), []byte("hsqs"), 0o644))
	must(t, os.MkdirAll(filepath.Join(layer, "etc/extensions"), 0o755))
	must(t, os.Symlink("/opt/extensions/kubernetes/kubernetes-v1.31.2-x86-64.raw", filepath.Join(layer, "etc/extensions/kubernetes.raw")))
	out := filepath.Join(t.TempDir(), "disk.raw")
	res, err := AddLayer(context.Background(), base, layer, out, LayerOptions{Epoch: fixtureEpoch})
	must(t, err)
	if res.Root.Number != 9 || res.Root.Name != "ROOT" {
		t.Fatalf("layer written to partition %d %q, want 9 ROOT", res.Root.Number, res.Root.Name)
	}
	dev := deviceAt(out, res.Root)
	if got := debugfs(t, dev, "cat /etc/kubernetes/kubelet.conf"); !strings.Contains(got, "layer\n") {
		t.Errorf("layer file missing on ROOT: %q", got)
	}
	if got := debugfs(t, dev, "cat /etc/os-release"); !strings.Contains(got, "ID=flatcar") {
		t.Errorf("vendor file lost on ROOT: %q", got)
	}
	if got := debugfs(t, dev, "stat /etc/extensions/kubernetes.raw"); !strings.Contains(got, "Type: symlink") ||
		!strings.Contains(got, "/opt/extensions/kubernetes/kubernetes-v1.31.2-x86-64.raw") {
		t.Errorf("the extension's symlink on ROOT: %q", got)
	}
	run(t, "e2fsck", "-fn", dev)
	sameOutside(t, base, out, res.Root)
}

// TestAddLayerDebianCloudLayout: a disk shaped like Debian's cloud image
// (root first, BIOS boot 14, ESP 15 with GRUB's files) takes a layer on
// partition 1 and keeps its boot partitions byte for byte.
func TestAddLayerDebianCloudLayout(t *testing.T) {
	requireTools(t, "sfdisk", "mke2fs", "debugfs", "e2fsck")
	base := makeForeignDisk(t, []foreignPart{
		{num: 1, typ: TypeLinuxData, mib: 96, fill: ext4Fill("ext4", map[string]string{"etc/debian_version": "13.0\n", "boot/vmlinuz-6.12.0-cloud-amd64": "kernel\n"})},
		{num: 14, typ: "21686148-6449-6E6F-744E-656564454649", mib: 3},
		{num: 15, typ: TypeESP, mib: 64, fill: espFill(map[string]string{"/EFI/debian/grubx64.efi": "grub\n", "/EFI/debian/grub.cfg": "search.fs_uuid\n"})},
	})
	layer := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(layer, "opt/bin"), 0o755))
	must(t, os.WriteFile(filepath.Join(layer, "opt/bin/kubelet"), randomBytes(1<<20, 4), 0o755))
	out := filepath.Join(t.TempDir(), "disk.raw")
	res, err := AddLayer(context.Background(), base, layer, out, LayerOptions{Epoch: fixtureEpoch})
	must(t, err)
	if res.Root.Number != 1 {
		t.Fatalf("layer written to partition %d, want 1", res.Root.Number)
	}
	run(t, "e2fsck", "-fn", deviceAt(out, res.Root))
	sameOutside(t, base, out, res.Root)
}

// TestAddLayerForeignRefusals: what the layer cannot be written to fails
// before anything is written, naming what was found.
func TestAddLayerForeignRefusals(t *testing.T) {
	requireTools(t, "sfdisk", "mke2fs", "debugfs")
	layerWith := func(rel string) string {
		layer := t.TempDir()
		must(t, os.MkdirAll(filepath.Join(layer, filepath.Dir(rel)), 0o755))
		must(t, os.WriteFile(filepath.Join(layer, rel), []byte("x\n"), 0o755))
		return layer
	}
	flatcar := flatcarDisk(t, ext4Fill("ext4", nil))
	tests := []struct {
		name        string
		base, layer string
		want        []string
	}{
		{"files under a /usr the disk mounts from USR-A", flatcar, layerWith("usr/bin/kubelet"),
			[]string{"puts /usr/bin under /usr", `partition 3 "USR-A"`, "kubernetes.install: sysext"}},
		{"a btrfs ROOT", flatcarDisk(t, btrfsStandIn), layerWith("etc/x"),
			[]string{"partition 9 (named ROOT)", "btrfs", `3 "USR-A"`, `2 "BIOS-BOOT" BIOS boot no filesystem recognised`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "disk.raw")
			_, err := AddLayer(context.Background(), tt.base, tt.layer, out, LayerOptions{Epoch: fixtureEpoch})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("a refused layer left %s behind", out)
			}
		})
	}
}

// sameOutside fails unless a and b hold the same bytes outside root.
func sameOutside(t *testing.T, a, b string, root PartitionReport) {
	t.Helper()
	fa, err := os.Open(a)
	must(t, err)
	defer fa.Close()
	fb, err := os.Open(b)
	must(t, err)
	defer fb.Close()
	st, err := fa.Stat()
	must(t, err)
	for _, r := range [][2]int64{{0, root.Start}, {root.End, st.Size()}} {
		x, y := make([]byte, r[1]-r[0]), make([]byte, r[1]-r[0])
		_, err := io.ReadFull(io.NewSectionReader(fa, r[0], r[1]-r[0]), x)
		must(t, err)
		_, err = io.ReadFull(io.NewSectionReader(fb, r[0], r[1]-r[0]), y)
		must(t, err)
		if !bytes.Equal(x, y) {
			t.Errorf("bytes %d..%d changed: the layer must leave every partition but the root alone", r[0], r[1])
		}
	}
}
