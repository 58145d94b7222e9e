package vmdk

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/strata-dev/strata/exporters/formats/internal/testdisk"
	"github.com/strata-dev/strata/exporters/formats/rawdisk"
)

// synthSize ends in a partial grain and spans three grain tables.
const synthSize = 80<<20 + 7*512

func convert(t *testing.T, rawPath string, o Options) string {
	t.Helper()
	return testdisk.Convert(t, rawPath, "disk.vmdk", func(ctx context.Context, f *os.File, src *rawdisk.Disk) (int64, error) {
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
		t.Run(name, func(t *testing.T) {
			img := convert(t, raw, Options{Seed: "test"})
			st, _ := os.Stat(raw)
			info := testdisk.QemuInfo(t, img, "")
			if info.Format != "vmdk" || info.FormatSpecific.Data.CreateType != "streamOptimized" {
				t.Errorf("qemu-img sees %q / %q, want vmdk / streamOptimized", info.Format, info.FormatSpecific.Data.CreateType)
			}
			if want := Capacity(st.Size()); info.VirtualSize != want {
				t.Errorf("virtual size %d, want %d", info.VirtualSize, want)
			}
			testdisk.QemuCheck(t, img, "vmdk")
			testdisk.QemuCompare(t, raw, img, "vmdk")
			checkStream(t, img)
			checkOwnReader(t, raw, img)
		})
	}
}

// checkStream walks the file as a streaming reader would and checks it
// against the stream-optimized layout of the Virtual Disk Format 5.0, field
// by field.
func checkStream(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	sec := func(n uint64) []byte { return data[n*sectorSize : (n+1)*sectorSize] }

	h, err := parseHeader(sec(0))
	if err != nil {
		t.Fatal(err)
	}
	want := header{Version: 3, Flags: 0x30001, Capacity: h.Capacity, GrainSize: 128, DescriptorOffset: 1,
		DescriptorSize: 20, NumGTEsPerGT: 512, GDOffset: gdAtEnd, OverHead: 128, CompressAlgorithm: 1}
	if *h != want {
		t.Errorf("header %+v\nwant   %+v", *h, want)
	}
	if h.Capacity%h.GrainSize != 0 {
		t.Errorf("capacity %d is not a whole number of grains", h.Capacity)
	}
	desc := string(bytes.TrimRight(data[512:512*21], "\x00"))
	for _, line := range []string{
		"# Disk DescriptorFile", "version=1", `createType="streamOptimized"`,
		fmt.Sprintf(`RW %d SPARSE "disk.vmdk"`, h.Capacity), "parentCID=ffffffff", `ddb.adapterType = "lsilogic"`,
	} {
		if !strings.Contains(desc, line+"\n") {
			t.Errorf("descriptor lacks %q:\n%s", line, desc)
		}
	}
	if !bytes.Equal(data[21*512:128*512], make([]byte, 107*512)) {
		t.Error("padding between descriptor and first grain is not zero")
	}

	tables := int((h.Capacity/128 + 511) / 512)
	gt := map[uint64]uint64{} // grain LBA -> sector of its marker
	var gtSeen, gdSector uint64
	lastLBA := int64(-1)
	pos := uint64(128)
	state := "grains"
walk:
	for {
		if (pos+1)*sectorSize > uint64(len(data)) {
			t.Fatalf("stream ends at sector %d without an end-of-stream marker", pos)
		}
		s := sec(pos)
		val, size, typ := le.Uint64(s), le.Uint32(s[8:]), le.Uint32(s[12:])
		if size > 0 { // grain marker
			if state != "grains" {
				t.Fatalf("grain at sector %d after the grain directory", pos)
			}
			if int64(val) <= lastLBA || val%128 != 0 || val >= h.Capacity {
				t.Fatalf("grain LBA %d at sector %d: not increasing, not grain-aligned or past capacity", val, pos)
			}
			if val/128/512 != gtSeen {
				t.Fatalf("grain LBA %d belongs to table %d, but %d tables were written before it", val, val/128/512, gtSeen)
			}
			lastLBA = int64(val)
			gt[val] = pos
			pos += (12 + uint64(size) + sectorSize - 1) / sectorSize
			continue
		}
		switch typ {
		case markerGT:
			if val != 4 || state != "grains" {
				t.Fatalf("grain table marker at %d: %d sectors, state %s", pos, val, state)
			}
			table := data[(pos+1)*sectorSize : (pos+5)*sectorSize]
			for i := range uint64(512) {
				lba := (gtSeen*512 + i) * 128
				if got, want := uint64(le.Uint32(table[4*i:])), gt[lba]; got != want {
					t.Fatalf("grain table %d entry %d: %d, the grain's marker is at %d", gtSeen, i, got, want)
				}
			}
			gtSeen++
			pos += 5
		case markerGD:
			if int(gtSeen) != tables || val != uint64((tables*4+511)/512) {
				t.Fatalf("grain directory after %d of %d tables, %d sectors", gtSeen, tables, val)
			}
			gdSector = pos + 1
			state = "gd"
			pos += 1 + val
		case markerFooter:
			if state != "gd" || val != 1 {
				t.Fatalf("footer marker at %d in state %s, %d sectors", pos, state, val)
			}
			footer := *h
			footer.GDOffset = gdSector
			if f, err := parseHeader(sec(pos + 1)); err != nil || *f != footer {
				t.Fatalf("footer %+v (%v), want the header with GD offset %d", f, err, gdSector)
			}
			state = "footer"
			pos += 2
		case markerEOS:
			if state != "footer" || val != 0 || !bytes.Equal(s, make([]byte, sectorSize)) {
				t.Fatalf("end-of-stream marker at %d in state %s is not a zero sector", pos, state)
			}
			if (pos+1)*sectorSize != uint64(len(data)) {
				t.Fatalf("%d bytes follow the end-of-stream marker", uint64(len(data))-(pos+1)*sectorSize)
			}
			break walk
		default:
			t.Fatalf("unknown marker type %d at sector %d", typ, pos)
		}
	}
	if len(gt) == 0 {
		t.Error("no grains")
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
	if img.CreateType() != "streamOptimized" {
		t.Errorf("create type %q", img.CreateType())
	}
	got := make([]byte, img.Size())
	if _, err := img.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[:len(raw)], raw) || !bytes.Equal(got[len(raw):], make([]byte, len(got)-len(raw))) {
		t.Error("own reader: content differs from the source")
	}
}

func TestDeterministic(t *testing.T) {
	raw := testdisk.Synthetic(t, t.TempDir(), 12<<20, 2)
	a, _ := os.ReadFile(convert(t, raw, Options{Seed: "s", Workers: 1}))
	b, _ := os.ReadFile(convert(t, raw, Options{Seed: "s", Workers: 4}))
	c, _ := os.ReadFile(convert(t, raw, Options{Seed: "other"}))
	if !bytes.Equal(a, b) {
		t.Error("output depends on the number of workers")
	}
	if bytes.Equal(a, c) {
		t.Error("the seed does not reach the descriptor's IDs")
	}
}

func TestDescriptorNamesTheFile(t *testing.T) {
	d := descriptor(2048, Options{Seed: "x", FileName: "node-1.vmdk", AdapterType: "pvscsi"})
	for _, want := range []string{`RW 2048 SPARSE "node-1.vmdk"`, `ddb.adapterType = "pvscsi"`, `ddb.geometry.cylinders = "1"`} {
		if !strings.Contains(d, want) {
			t.Errorf("descriptor lacks %q:\n%s", want, d)
		}
	}
}
