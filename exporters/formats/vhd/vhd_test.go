package vhd

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-dev/strata/exporters/formats/internal/testdisk"
	"github.com/strata-dev/strata/exporters/formats/rawdisk"
)

// synthSize is neither a whole MiB nor a whole 2 MiB block.
const synthSize = 41<<20 + 7*512

func convert(t *testing.T, rawPath string, dynamic bool, o Options) string {
	t.Helper()
	write := WriteFixed
	if dynamic {
		write = WriteDynamic
	}
	return testdisk.Convert(t, rawPath, fmt.Sprintf("out-%v.vhd", dynamic), func(ctx context.Context, f *os.File, src *rawdisk.Disk) (int64, error) {
		return write(ctx, f, src, o)
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
		for _, dynamic := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/dynamic=%v", name, dynamic), func(t *testing.T) {
				img := convert(t, raw, dynamic, Options{Seed: "test"})
				st, _ := os.Stat(raw)
				// Only a dynamic VHD has a header qemu-img can probe.
				probe := ""
				if !dynamic {
					probe = "vpc"
				}
				info := testdisk.QemuInfo(t, img, probe)
				if info.Format != "vpc" {
					t.Errorf("qemu-img sees format %q, want vpc", info.Format)
				}
				if want := VirtualSize(st.Size()); info.VirtualSize != want {
					t.Errorf("virtual size %d, want %d", info.VirtualSize, want)
				}
				testdisk.QemuCompare(t, raw, img, "vpc")
				checkFooter(t, img, st.Size(), dynamic)
				checkOwnReader(t, raw, img)
			})
		}
	}
}

// checkFooter parses the footer at the end of the file by hand and checks
// what Azure checks: cookie, checksum, disk type, whole-MiB size.
func checkFooter(t *testing.T, path string, rawSize int64, dynamic bool) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tail := data[len(data)-footerSize:]
	if string(tail[:8]) != "conectix" {
		t.Fatalf("cookie %q", tail[:8])
	}
	var sum uint32
	for i, b := range tail {
		if i < 64 || i >= 68 {
			sum += uint32(b)
		}
	}
	if got := uint32(tail[64])<<24 | uint32(tail[65])<<16 | uint32(tail[66])<<8 | uint32(tail[67]); got != ^sum {
		t.Errorf("checksum %#x, want %#x", got, ^sum)
	}
	f, err := ParseFooter(tail)
	if err != nil {
		t.Fatal(err)
	}
	wantType := uint32(TypeFixed)
	if dynamic {
		wantType = TypeDynamic
	}
	if f.DiskType != wantType {
		t.Errorf("disk type %d, want %d", f.DiskType, wantType)
	}
	if f.CurrentSize%(1<<20) != 0 || f.CurrentSize < uint64(rawSize) || f.CurrentSize-uint64(rawSize) >= 1<<20 {
		t.Errorf("current size %d: not the whole-MiB round-up of %d", f.CurrentSize, rawSize)
	}
	if f.OriginalSize != f.CurrentSize {
		t.Errorf("original size %d, current %d", f.OriginalSize, f.CurrentSize)
	}
	if c, h, s := Geometry(int64(f.CurrentSize) / 512); f.Cylinders != c || f.Heads != h || f.SectorsPerTrack != s {
		t.Errorf("geometry %d/%d/%d, want %d/%d/%d", f.Cylinders, f.Heads, f.SectorsPerTrack, c, h, s)
	}
	if dynamic {
		if f.DataOffset != 512 || !bytes.Equal(data[:footerSize], tail) {
			t.Error("dynamic disk: the footer copy at the start differs, or data offset is not 512")
		}
	} else {
		if f.DataOffset != noDataOffset {
			t.Errorf("fixed disk: data offset %#x", f.DataOffset)
		}
		if int64(len(data)) != int64(f.CurrentSize)+footerSize {
			t.Errorf("fixed disk: file is %d bytes, want size+512", len(data))
		}
	}
}

func checkOwnReader(t *testing.T, rawPath, imgPath string) {
	t.Helper()
	raw, _ := os.ReadFile(rawPath)
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
	got := make([]byte, img.Size())
	if _, err := img.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[:len(raw)], raw) || !bytes.Equal(got[len(raw):], make([]byte, len(got)-len(raw))) {
		t.Error("own reader: content differs from the source")
	}
}

func TestDynamicAllocatesOnlyBlocksWithData(t *testing.T) {
	raw := testdisk.Synthetic(t, t.TempDir(), synthSize, 4)
	data, _ := os.ReadFile(raw)
	want := 0
	for off := 0; off < len(data); off += blockSize {
		if !bytes.Equal(data[off:min(off+blockSize, len(data))], make([]byte, min(blockSize, len(data)-off))) {
			want++
		}
	}
	f, _ := os.Open(convert(t, raw, true, Options{}))
	defer f.Close()
	st, _ := f.Stat()
	img, err := Open(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for _, e := range img.bat {
		if e != unusedBlock {
			got++
		}
	}
	if got != want {
		t.Errorf("%d blocks allocated, want the %d holding data", got, want)
	}
}

func TestIdentityAndTimestamp(t *testing.T) {
	raw := testdisk.Synthetic(t, t.TempDir(), 3<<20, 5)
	at := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	footer := func(seed string) Footer {
		data, _ := os.ReadFile(convert(t, raw, false, Options{Seed: seed, Time: at}))
		f, err := ParseFooter(data[len(data)-footerSize:])
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	a, b, c := footer("one"), footer("one"), footer("two")
	if a.UniqueID != b.UniqueID || a.UniqueID == c.UniqueID {
		t.Error("unique ID is not a function of the seed")
	}
	if want := uint32(at.Sub(vhdEpoch) / time.Second); a.Timestamp != want {
		t.Errorf("timestamp %d, want %d", a.Timestamp, want)
	}
}

// TestGeometryMatchesQemu compares the CHS geometry with the one qemu-img
// computes (it implements the same appendix of the spec) for sizes in
// each branch of the algorithm. Without force_size qemu-img sizes the disk
// by geometry: it feeds the algorithm ever larger sector counts until the
// geometry covers the requested size, so the test does the same with ours.
// (With force_size qemu-img writes a marker geometry instead.)
func TestGeometryMatchesQemu(t *testing.T) {
	testdisk.NeedQemuImg(t)
	dir := t.TempDir()
	for _, mibs := range []int64{1, 3, 100, 1024, 8 << 10, 31 << 10, 32 << 10, 127 << 10, 200 << 10} {
		path := filepath.Join(dir, fmt.Sprintf("%d.vhd", mibs))
		out, err := exec.Command("qemu-img", "create", "-f", "vpc", "-o", "subformat=fixed", path, fmt.Sprintf("%dM", mibs)).CombinedOutput()
		if err != nil {
			t.Fatalf("qemu-img create: %v\n%s", err, out)
		}
		f, _ := os.Open(path)
		st, _ := f.Stat()
		b := make([]byte, footerSize)
		f.ReadAt(b, st.Size()-footerSize)
		f.Close()
		os.Remove(path)
		q, err := ParseFooter(b)
		if err != nil {
			t.Fatal(err)
		}
		want := mibs << 20 / 512
		c, h, s := Geometry(want)
		for i := int64(1); int64(c)*int64(h)*int64(s) < want && c < 65535; i++ {
			c, h, s = Geometry(want + i)
		}
		if q.Cylinders != c || q.Heads != h || q.SectorsPerTrack != s {
			t.Errorf("%d MiB: geometry %d/%d/%d, qemu-img %d/%d/%d", mibs, c, h, s, q.Cylinders, q.Heads, q.SectorsPerTrack)
		}
	}
}

func TestRejectsOversizedDisk(t *testing.T) {
	huge := rawdisk.New(strings.NewReader(""), MaxSize+1)
	if _, err := WriteFixed(context.Background(), nil, huge, Options{}); err == nil || !strings.Contains(err.Error(), "2040 GiB") {
		t.Fatalf("error %v, want one naming the 2040 GiB limit", err)
	}
}
