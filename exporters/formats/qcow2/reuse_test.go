package qcow2

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/strata-dev/strata/exporters/formats/internal/testdisk"
	"github.com/strata-dev/strata/exporters/formats/rawdisk"
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
	testdisk.NeedQemuImg(t)
	testdisk.QemuCheck(t, fresh, "qcow2")
	testdisk.QemuCompare(t, derived, fresh, "qcow2")
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

// TestReuseOfLayeredDiskSkipsItsBase converts a disk given as its changes
// over the reuse raw disk (what strata convert --delta does): the output
// is the conversion of the whole disk, and the base's unchanged clusters
// are copied from the reuse image without being read again.
func TestReuseOfLayeredDiskSkipsItsBase(t *testing.T) {
	basePath, derivedPath := testdisk.Related(t, synthSize)
	baseImg := convert(t, basePath, Options{Compress: true})
	fresh := convert(t, derivedPath, Options{Compress: true})

	base, derived := openFile(t, basePath), openFile(t, derivedPath)
	counted := &countingReader{r: base}
	baseDisk := rawdisk.New(counted, synthSize)
	layered, err := rawdisk.Layered(baseDisk, derived, 0, differingClusters(t, base, derived))
	if err != nil {
		t.Fatal(err)
	}
	b := testdisk.OpenBase(t, basePath, baseImg)
	b.Raw = baseDisk
	got := filepath.Join(t.TempDir(), "layered.qcow2")
	f, err := os.Create(got)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := Write(t.Context(), f, layered, Options{Compress: true, Reuse: b}); err != nil {
		t.Fatal(err)
	}
	testdisk.CheckReused(t, fresh, got, b.Stats)

	// Checking the reuse image reads the whole base once (a reader that is
	// not a file has no holes to skip); reading it again for the
	// conversion would double that.
	if counted.n > synthSize*3/2 {
		t.Errorf("read %d bytes of the %d-byte base: its unchanged clusters were read again", counted.n, synthSize)
	}
}

type countingReader struct {
	r io.ReaderAt
	n int64
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	atomic.AddInt64(&c.n, int64(len(p)))
	return c.r.ReadAt(p, off)
}

func openFile(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// differingClusters lists the clusters in which a and b differ.
func differingClusters(t *testing.T, a, b *os.File) []rawdisk.Extent {
	t.Helper()
	var out []rawdisk.Extent
	ba, bb := make([]byte, clusterSize), make([]byte, clusterSize)
	for off := int64(0); off < synthSize; off += clusterSize {
		n := min(clusterSize, synthSize-off)
		if _, err := a.ReadAt(ba[:n], off); err != nil {
			t.Fatal(err)
		}
		if _, err := b.ReadAt(bb[:n], off); err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(ba[:n], bb[:n]) {
			continue
		}
		if k := len(out); k > 0 && out[k-1].End() == off {
			out[k-1].Len += n
		} else {
			out = append(out, rawdisk.Extent{Off: off, Len: n})
		}
	}
	if len(out) == 0 {
		t.Fatal("the derived disk equals its base")
	}
	return out
}
