package qcow2

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/strata-dev/strata/exporters/formats/internal/testdisk"
	"github.com/strata-dev/strata/exporters/formats/reuse"
)

func TestReuseIsByteIdentical(t *testing.T) {
	base, derived := testdisk.Related(t, synthSize)
	baseImg := convert(t, base, Options{Compress: true})
	fresh := convert(t, derived, Options{Compress: true})
	for _, workers := range []int{1, 4} {
		b := testdisk.OpenBase(t, base, baseImg)
		got := convert(t, derived, Options{Compress: true, Workers: workers, Reuse: b})
		testdisk.CheckReused(t, fresh, got, b.Stats)
	}
	if _, err := exec.LookPath("qemu-img"); err == nil {
		testdisk.QemuCheck(t, fresh, "qcow2")
		testdisk.QemuCompare(t, derived, fresh, "qcow2")
	}
}

// TestReuseOfItselfCopiesEverything converts a disk with its own image as
// the reuse image: nothing is compressed, and the output is the image.
func TestReuseOfItselfCopiesEverything(t *testing.T) {
	raw := testdisk.GPTDisk(t, t.TempDir())
	img := convert(t, raw, Options{Compress: true})
	b := testdisk.OpenBase(t, raw, img)
	testdisk.SameFile(t, img, convert(t, raw, Options{Compress: true, Reuse: b}))
	if b.Stats.Compressed != 0 || b.Stats.Reused == 0 {
		t.Errorf("stats %+v, want every cluster reused", b.Stats)
	}
}

// TestReuseIgnoresWrongImages pairs the base raw disk with images that are
// not its compressed conversion: each must be ignored, with a reason, and
// the output must stay what it is without reuse.
func TestReuseIgnoresWrongImages(t *testing.T) {
	base, derived := testdisk.Related(t, synthSize)
	dir := t.TempDir()
	other := testdisk.Synthetic(t, dir, synthSize, 5)
	smaller := testdisk.Synthetic(t, dir, synthSize-clusterSize, 1)
	inPlace := testdisk.Derived(t, dir, base, testdisk.Change{Seed: 8, Rewrites: 400})
	baseImg := convert(t, base, Options{Compress: true})
	corrupt := filepath.Join(dir, "corrupt.qcow2")
	data, _ := os.ReadFile(baseImg)
	if err := os.WriteFile(corrupt, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	fresh := convert(t, derived, Options{Compress: true})

	cases := []struct{ name, raw, image string }{
		{"another disk's image", base, convert(t, other, Options{Compress: true})},
		{"another size", smaller, convert(t, smaller, Options{Compress: true})},
		{"plain image", base, convert(t, base, Options{})},
		{"another level", base, convert(t, base, Options{Compress: true, Level: 6})},
		{"same layout, other content", base, convert(t, inPlace, Options{Compress: true})},
		{"truncated", base, corrupt},
		{"raw disk", base, base},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := testdisk.OpenBase(t, c.raw, c.image)
			testdisk.SameFile(t, fresh, convert(t, derived, Options{Compress: true, Reuse: b}))
			if b.Stats.Ignored == "" || b.Stats.Reused != 0 {
				t.Errorf("wrong image used: %+v", b.Stats)
			}
			t.Log(b.Stats.Ignored)
		})
	}
}

// TestReuseIndexLengths checks the lengths the index derives from the
// packing against inflating every compressed cluster, on disks with
// clusters stored whole between compressed ones.
func TestReuseIndexLengths(t *testing.T) {
	dir := t.TempDir()
	for _, raw := range []string{testdisk.GPTDisk(t, dir), testdisk.Synthetic(t, dir, synthSize, 3)} {
		path := convert(t, raw, Options{Compress: true})
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f, _ := os.Open(path)
		defer f.Close()
		img, err := Open(f, int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		x := &indexer{img: img, chunks: map[int64]reuse.Chunk{}, pending: -1}
		var whole int
		ends := map[int64]int64{} // where each compressed cluster's last sector ends
		err = img.eachEntry(func(idx int64, e uint64) error {
			if e&flagCompressed == 0 {
				whole++
			} else {
				off, n := img.compressedRange(e)
				ends[idx] = off + n
			}
			return x.add(idx, e)
		})
		if err == nil {
			err = x.settle(0, true)
		}
		if err != nil {
			t.Fatal(err)
		}
		for idx, c := range x.chunks {
			end, ok := ends[idx]
			if !ok {
				continue
			}
			n, err := img.streamLength(c.Off, end)
			if err != nil || n != int64(c.Len) {
				t.Errorf("%s: guest cluster %d: index says %d bytes, inflating %d (%v)", filepath.Base(raw), idx, c.Len, n, err)
			}
		}
		if whole == 0 {
			t.Errorf("%s: no cluster stored whole; the test needs some", filepath.Base(raw))
		}
		t.Logf("%s: %d compressed clusters, %d stored whole, %d lengths found by inflating", filepath.Base(raw), x.compressed, whole, x.inflated)
	}
}
