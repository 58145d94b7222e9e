package qcow2

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/strata-dev/strata/exporters/formats/internal/testdisk"
	"github.com/strata-dev/strata/exporters/formats/rawdisk"
)

// synthSize is not a multiple of the cluster size: the last cluster is
// partial.
const synthSize = 40<<20 + 7*512

func convert(t *testing.T, rawPath string, o Options) string {
	t.Helper()
	return testdisk.Convert(t, rawPath, fmt.Sprintf("out-%v.qcow2", o.Compress), func(ctx context.Context, f *os.File, src *rawdisk.Disk) (int64, error) {
		return Write(ctx, f, src, o)
	})
}

func TestWriteIsWhatQemuReads(t *testing.T) {
	testdisk.NeedQemuImg(t)
	dir := t.TempDir()
	disks := map[string]string{
		"synthetic": testdisk.Synthetic(t, dir, synthSize, 1),
		"gpt":       testdisk.GPTDisk(t, dir),
	}
	for name, raw := range disks {
		for _, compress := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/compress=%v", name, compress), func(t *testing.T) {
				img := convert(t, raw, Options{Compress: compress})
				st, _ := os.Stat(raw)
				info := testdisk.QemuInfo(t, img, "")
				if info.Format != "qcow2" || info.FormatSpecific.Data.Compat != "1.1" {
					t.Errorf("qemu-img sees format %q compat %q, want qcow2 1.1 (v3)", info.Format, info.FormatSpecific.Data.Compat)
				}
				if want := (st.Size() + 511) &^ 511; info.VirtualSize != want {
					t.Errorf("virtual size %d, want %d", info.VirtualSize, want)
				}
				testdisk.QemuCheck(t, img, "qcow2")
				testdisk.QemuCompare(t, raw, img, "qcow2")
				checkOwnReader(t, raw, img, compress)
			})
		}
	}
}

// checkOwnReader reads the image back with this package's reader: the
// content, the refcounts, and that exactly the non-zero clusters were
// stored.
func checkOwnReader(t *testing.T, rawPath, imgPath string, compressed bool) {
	t.Helper()
	raw, err := os.ReadFile(rawPath)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(imgPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	img, err := Open(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	if err := img.Check(); err != nil {
		t.Errorf("own check: %v", err)
	}
	got := make([]byte, img.Size())
	if _, err := img.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[:len(raw)], raw) || !bytes.Equal(got[len(raw):], make([]byte, len(got)-len(raw))) {
		t.Error("own reader: content differs from the source")
	}

	zero := make([]byte, clusterSize)
	var nonZero, allocated, compressedCount int
	for idx := int64(0); idx*clusterSize < img.Size(); idx++ {
		end := min(int64(len(raw)), (idx+1)*clusterSize)
		if !bytes.Equal(raw[idx*clusterSize:end], zero[:end-idx*clusterSize]) {
			nonZero++
		}
		e, err := img.l2Entry(idx)
		if err != nil {
			t.Fatal(err)
		}
		if e != 0 {
			allocated++
		}
		if e&flagCompressed != 0 {
			compressedCount++
		}
	}
	if allocated != nonZero {
		t.Errorf("%d guest clusters allocated, want exactly the %d non-zero ones", allocated, nonZero)
	}
	if compressed && compressedCount == 0 {
		t.Error("compressed image has no compressed cluster")
	}
	if !compressed && compressedCount != 0 {
		t.Errorf("plain image has %d compressed clusters", compressedCount)
	}
}

func TestCompressedIsSmallerAndDeterministic(t *testing.T) {
	raw := testdisk.Synthetic(t, t.TempDir(), synthSize, 2)
	plain := convert(t, raw, Options{})
	a := convert(t, raw, Options{Compress: true, Workers: 1})
	b := convert(t, raw, Options{Compress: true, Workers: 4})
	pa, _ := os.ReadFile(plain)
	ca, _ := os.ReadFile(a)
	cb, _ := os.ReadFile(b)
	if !bytes.Equal(ca, cb) {
		t.Error("compressed output depends on the number of workers")
	}
	if len(ca) >= len(pa) {
		t.Errorf("compressed %d bytes, plain %d", len(ca), len(pa))
	}
	again, _ := os.ReadFile(convert(t, raw, Options{}))
	if !bytes.Equal(pa, again) {
		t.Error("plain output differs between runs")
	}
}

// TestCheckCatchesBadRefcounts proves the refcount check can fail: bump one
// refcount and both our check and qemu-img's object.
func TestCheckCatchesBadRefcounts(t *testing.T) {
	raw := testdisk.Synthetic(t, t.TempDir(), 8<<20, 3)
	path := convert(t, raw, Options{Compress: true})
	data, _ := os.ReadFile(path)
	img, err := Open(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if err := img.Check(); err != nil {
		t.Fatalf("fresh image: %v", err)
	}
	rt := int64(img.h.RefcountTableOffset)
	block := int64(binary.BigEndian.Uint64(data[rt:]) & offsetMask)
	binary.BigEndian.PutUint16(data[block+2:], 7) // host cluster 1
	bad, _ := Open(bytes.NewReader(data), int64(len(data)))
	if err := bad.Check(); err == nil {
		t.Fatal("Check missed a wrong refcount")
	}
	testdisk.NeedQemuImg(t)
	corrupt := filepath.Join(t.TempDir(), "corrupt.qcow2")
	if err := os.WriteFile(corrupt, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("qemu-img", "check", corrupt).CombinedOutput(); err == nil {
		t.Fatalf("qemu-img check accepted the corrupt image:\n%s", out)
	}
}

func TestWriteRejectsEmptyDisk(t *testing.T) {
	if _, err := Write(context.Background(), nopWriterAt{}, rawdisk.New(bytes.NewReader(nil), 0), Options{}); err == nil {
		t.Fatal("empty disk accepted")
	}
}

type nopWriterAt struct{}

func (nopWriterAt) WriteAt(p []byte, _ int64) (int, error) { return len(p), nil }

// qemuMade are images qemu-img made from testdata/small.raw (24 KiB):
//
//	qemu-img convert -f raw -O qcow2 -o cluster_size=512 small.raw small-512.qcow2
//	qemu-img convert -c -f raw -O qcow2 -o cluster_size=512 small.raw small-512-c.qcow2
var qemuMade = []string{"small-512.qcow2", "small-512-c.qcow2"}

// TestReadsQemuImages reads images made by qemu-img itself, with another
// cluster size and qemu's own compression.
func TestReadsQemuImages(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("testdata", "small.raw"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range qemuMade {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		img, err := Open(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := img.Check(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		got := make([]byte, img.Size())
		if _, err := img.ReadAt(got, 0); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: content differs from small.raw", name)
		}
	}
}
