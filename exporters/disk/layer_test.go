package disk

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestAddLayerFidelity adds every kind of entry the root filesystem must
// keep to a disk assembled from boot files and entries the layer replaces,
// and expects what assembling the whole tree gives (checkRootFS).
func TestAddLayerFidelity(t *testing.T) {
	requireRoot(t)
	requireTools(t, "mke2fs", "debugfs", "e2fsck", "dumpe2fs")

	base := t.TempDir()
	writeBootFixture(t, base)
	p := func(rel string) string { return filepath.Join(base, rel) }
	for _, d := range []string{"data/kept", "usr/bin", "etc", "tmp"} {
		must(t, os.MkdirAll(p(d), 0o700))
	}
	must(t, os.WriteFile(p("etc/hostname"), []byte("replaced by the layer\n"), 0o600))
	must(t, os.WriteFile(p("data/kept/file"), []byte("only in the base\n"), 0o644))
	must(t, os.Symlink("elsewhere", p("usr/bin/strata-suid")))
	must(t, os.Symlink("/usr", p("empty"))) // the layer's directory replaces it
	img := filepath.Join(t.TempDir(), "base.raw")
	res, err := Assemble(context.Background(), base, img, Options{Size: 1 << 30, ESPSize: 64 << 20, Seed: "sha256:layer", Epoch: fixtureEpoch})
	must(t, err)

	layer := t.TempDir()
	makeFidelityFiles(t, layer)
	must(t, os.Chmod(layer, 0o751))
	out := filepath.Join(t.TempDir(), "disk.raw")
	if _, err := AddLayer(context.Background(), img, layer, out, LayerOptions{Epoch: fixtureEpoch}); err != nil {
		t.Fatal(err)
	}
	checkRootFS(t, out, res.Layout)
	checkImageIsSparse(t, out)
	fs := fmt.Sprintf("%s?offset=%d", out, res.Layout.Root.Start)
	if got := debugfs(t, fs, "cat /data/kept/file"); !strings.Contains(got, "only in the base\n") {
		t.Errorf("a base file the layer does not name was lost: %q", got)
	}
	if d := statInode(t, fs, "/data"); d.Mode != "0755" {
		t.Errorf("/data has mode %s, want the layer's 0755", d.Mode)
	}
	// The base itself is untouched.
	if got := debugfs(t, fmt.Sprintf("%s?offset=%d", img, res.Layout.Root.Start), "cat /etc/hostname"); !strings.Contains(got, "replaced by the layer") {
		t.Errorf("base changed: /etc/hostname is %q", got)
	}
}

// TestAddLayerReproducible: the same base and layer give the same bytes,
// and the base's data blocks stay where they were.
func TestAddLayerReproducible(t *testing.T) {
	requireRoot(t)
	requireTools(t, "mke2fs", "debugfs")
	img := assembleBase(t, 512<<20, func(base string) {
		must(t, os.MkdirAll(filepath.Join(base, "usr/share/big"), 0o755))
		must(t, os.WriteFile(filepath.Join(base, "usr/share/big/blob"), randomBytes(8<<20, 1), 0o644))
	})

	var outs []string
	for i := range 2 {
		layer := t.TempDir()
		must(t, os.MkdirAll(filepath.Join(layer, "usr/bin"), 0o755))
		must(t, os.WriteFile(filepath.Join(layer, "usr/bin/tool"), randomBytes(3<<20, 2), 0o755))
		out := filepath.Join(t.TempDir(), fmt.Sprintf("disk%d.raw", i))
		_, err := AddLayer(context.Background(), img, layer, out, LayerOptions{Epoch: fixtureEpoch})
		must(t, err)
		outs = append(outs, out)
	}
	a, err := os.ReadFile(outs[0])
	must(t, err)
	b, err := os.ReadFile(outs[1])
	must(t, err)
	if !bytes.Equal(a, b) {
		t.Fatal("the same base and layer gave different disks")
	}
	baseBytes, err := os.ReadFile(img)
	must(t, err)
	blob := randomBytes(8<<20, 1)
	at := indexOf(baseBytes, blob[:4096])
	if at < 0 || indexOf(a, blob[:4096]) != at {
		t.Errorf("the base's file data moved (base at %d, layered disk at %d)", at, indexOf(a, blob[:4096]))
	}
}

func TestAddLayerRefuses(t *testing.T) {
	requireRoot(t)
	requireTools(t, "mke2fs", "debugfs")
	img := assembleBase(t, 256<<20, func(base string) {
		must(t, os.MkdirAll(filepath.Join(base, "opt/dir"), 0o755))
	})

	for name, c := range map[string]struct {
		make func(root string)
		want string
	}{
		"boot files": {func(root string) {
			must(t, os.MkdirAll(filepath.Join(root, "boot"), 0o755))
			must(t, os.WriteFile(filepath.Join(root, "boot/vmlinuz-9"), []byte("k"), 0o644))
		}, "changes /boot"},
		"file over directory": {func(root string) {
			must(t, os.MkdirAll(filepath.Join(root, "opt"), 0o755))
			must(t, os.WriteFile(filepath.Join(root, "opt/dir"), []byte("f"), 0o644))
		}, "puts a file where the filesystem has a directory"},
		"too big": {func(root string) {
			must(t, os.WriteFile(filepath.Join(root, "big"), randomBytes(300<<20, 3), 0o644))
		}, "raise disk.size"},
	} {
		t.Run(name, func(t *testing.T) {
			layer := t.TempDir()
			c.make(layer)
			out := filepath.Join(t.TempDir(), "disk.raw")
			_, err := AddLayer(context.Background(), img, layer, out, LayerOptions{Epoch: fixtureEpoch})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error saying %q", err, c.want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("a failed run left %s behind", out)
			}
			if left, _ := filepath.Glob(filepath.Join(filepath.Dir(out), "*")); len(left) != 0 {
				t.Errorf("a failed run left %v behind", left)
			}
		})
	}
}

// assembleBase assembles a disk of size from the boot fixture and what
// fill writes, and returns its path.
func assembleBase(t *testing.T, size int64, fill func(root string)) string {
	t.Helper()
	base := t.TempDir()
	writeBootFixture(t, base)
	fill(base)
	img := filepath.Join(t.TempDir(), "base.raw")
	_, err := Assemble(context.Background(), base, img, Options{Size: size, ESPSize: 64 << 20, Seed: "sha256:layer", Epoch: fixtureEpoch})
	must(t, err)
	return img
}

func randomBytes(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed) + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

func indexOf(haystack, needle []byte) int {
	for i := 0; i+len(needle) <= len(haystack); i += 4096 {
		if bytes.Equal(haystack[i:i+len(needle)], needle) {
			return i
		}
	}
	return -1
}

// TestAddLayerDelta: the base disk read through a delta is the disk
// AddLayer writes in full, byte for byte, and a delta refuses another base.
func TestAddLayerDelta(t *testing.T) {
	requireRoot(t)
	requireTools(t, "mke2fs", "debugfs")
	fill := func(blob byte) func(string) {
		return func(base string) {
			must(t, os.MkdirAll(filepath.Join(base, "usr/bin"), 0o755))
			must(t, os.WriteFile(filepath.Join(base, "usr/bin/replaced"), randomBytes(1<<20, blob), 0o755))
			must(t, os.WriteFile(filepath.Join(base, "usr/bin/kept"), randomBytes(2<<20, 9), 0o755))
		}
	}
	img := assembleBase(t, 256<<20, fill(1))
	layer := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(layer, "usr/bin"), 0o755))
	must(t, os.WriteFile(filepath.Join(layer, "usr/bin/replaced"), randomBytes(3<<20, 2), 0o755))
	must(t, os.WriteFile(filepath.Join(layer, "usr/bin/new"), randomBytes(1<<20, 3), 0o755))

	full := filepath.Join(t.TempDir(), "disk.raw")
	_, err := AddLayer(context.Background(), img, layer, full, LayerOptions{Epoch: fixtureEpoch})
	must(t, err)
	dir := filepath.Join(t.TempDir(), "delta")
	res, err := AddLayerDelta(context.Background(), img, layer, dir, LayerOptions{Epoch: fixtureEpoch})
	must(t, err)
	if res.Changed < 4<<20 || res.Changed > 8<<20 {
		t.Errorf("the delta changes %d bytes; the layer wrote 4 MiB of files and some metadata", res.Changed)
	}

	d, err := OpenDelta(dir, img)
	must(t, err)
	defer d.Close()
	got, err := os.ReadFile(img)
	must(t, err)
	for _, c := range d.Changes {
		_, err := d.Image.ReadAt(got[c.Off:c.Off+c.Len], c.Off-d.Shift)
		must(t, err)
	}
	want, err := os.ReadFile(full)
	must(t, err)
	if !bytes.Equal(got, want) {
		t.Fatal("the base read through the delta differs from the layered disk")
	}

	// Another OS disk: one more file changes its superblock's free counts.
	// (A base that differs only inside files the layer leaves alone is
	// not told apart; in a build the graph pairs a delta with its base.)
	other := assembleBase(t, 256<<20, func(base string) {
		fill(1)(base)
		must(t, os.WriteFile(filepath.Join(base, "usr/bin/extra"), randomBytes(64<<10, 5), 0o755))
	})
	if _, err := OpenDelta(dir, other); err == nil || !strings.Contains(err.Error(), "made from another disk") {
		t.Errorf("OpenDelta with another base: got %v", err)
	}
}

// TestAddLayerHostDiskFull: when the machine's own disk fills up, the
// error says so and does not send the user to raise disk.size, which would
// only make it worse. A CI run once failed so and blamed disk.size.
func TestAddLayerHostDiskFull(t *testing.T) {
	requireRoot(t)
	requireTools(t, "mke2fs", "debugfs")
	img := assembleBase(t, 256<<20, func(string) {})
	layer := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(layer, "usr/bin"), 0o755))
	must(t, os.WriteFile(filepath.Join(layer, "usr/bin/tool"), randomBytes(96<<20, 4), 0o755))
	small := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", small).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs to fill: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", small).Run() })

	out := filepath.Join(small, "disk.raw")
	_, err := AddLayer(context.Background(), img, layer, out, LayerOptions{Epoch: fixtureEpoch})
	if err == nil || !strings.Contains(err.Error(), "the build machine's disk is full") || strings.Contains(err.Error(), "raise disk.size") {
		t.Fatalf("got %v, want an error blaming the build machine's disk and not disk.size", err)
	}
	if left, _ := filepath.Glob(filepath.Join(small, "*")); len(left) != 0 {
		t.Errorf("a failed run left %v behind", left)
	}
}

func TestOutOfSpaceMessages(t *testing.T) {
	for msg, want := range map[string][2]bool{
		`__populate_fs: Could not allocate block in ext2 filesystem while writing file "big"`: {true, false},
		`__populate_fs: Could not allocate inode in ext2 filesystem while writing file "f1"`:  {true, false},
		`write: Could not allocate block in ext2 filesystem`:                                  {true, false},
		`/usr/bin/kubeadm: No space left on device`:                                           {false, true},
		`ext2fs_close: No space left on device`:                                               {false, true},
		`rm: File not found by ext2_lookup`:                                                   {false, false},
	} {
		if got := [2]bool{outOfSpace(msg), hostOutOfSpace(msg)}; got != want {
			t.Errorf("%q: filesystem full, host full = %v, want %v", msg, got, want)
		}
	}
}
