package vhd

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/strata-dev/strata/exporters/formats/rawdisk"
)

type writerAtBuffer struct{ b []byte }

func (w *writerAtBuffer) WriteAt(p []byte, off int64) (int, error) {
	if end := int(off) + len(p); end > len(w.b) {
		w.b = append(w.b, make([]byte, end-len(w.b))...)
	}
	copy(w.b[off:], p)
	return len(p), nil
}

// smallImages builds tiny images for the fuzzer to mutate (the writers'
// smallest output is a MiB, too big to fuzz quickly): a fixed disk of 4
// KiB, a dynamic disk with 4 KiB blocks, one allocated and half present,
// and a dynamic disk the writer made from an all-zero disk (no blocks).
func smallImages(t testing.TB) [][]byte {
	data := bytes.Repeat([]byte("vhd!"), 1024)
	fixed := newFooter(TypeFixed, 4096, [16]byte{1}, time.Time{})
	out := [][]byte{append(append([]byte(nil), data...), fixed.Marshal()...)}

	const bs = 4096
	dyn := newFooter(TypeDynamic, 2*bs, [16]byte{2}, time.Time{})
	dyn.DataOffset = 512
	foot := dyn.Marshal()
	hdr := make([]byte, dynHeaderSize)
	copy(hdr, "cxsparse")
	binary.BigEndian.PutUint64(hdr[8:], noDataOffset)
	binary.BigEndian.PutUint64(hdr[16:], 1536)
	binary.BigEndian.PutUint32(hdr[24:], formatVersion)
	binary.BigEndian.PutUint32(hdr[28:], 2)
	binary.BigEndian.PutUint32(hdr[32:], bs)
	binary.BigEndian.PutUint32(hdr[36:], checksum(hdr, 36))
	bat := []byte{0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff} // block 0 at sector 4
	bat = append(bat, make([]byte, 512-len(bat))...)
	bitmap := make([]byte, 512)
	bitmap[0] = 0xF0 // the first four sectors present
	img := append(append(append(append(append(foot, hdr...), bat...), bitmap...), data...), foot...)
	out = append(out, img)

	var zero writerAtBuffer
	if _, err := WriteDynamic(context.Background(), &zero, rawdisk.New(bytes.NewReader(make([]byte, 3<<20)), 3<<20), Options{}); err != nil {
		t.Fatal(err)
	}
	return append(out, zero.b)
}

// TestSmallImagesRead checks the fuzz seeds themselves, the dynamic one
// with a partial sector bitmap in particular.
func TestSmallImagesRead(t *testing.T) {
	imgs := smallImages(t)
	want := bytes.Repeat([]byte("vhd!"), 1024)
	for i, data := range imgs[:2] {
		img, err := Open(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatalf("image %d: %v", i, err)
		}
		got := make([]byte, img.Size())
		if _, err := img.ReadAt(got, 0); err != nil {
			t.Fatalf("image %d: %v", i, err)
		}
		exp := want
		if i == 1 { // sectors 4-7 absent from the bitmap, block 1 unallocated
			exp = append(append(append([]byte(nil), want[:2048]...), make([]byte, 2048)...), make([]byte, 4096)...)
		}
		if !bytes.Equal(got, exp) {
			t.Errorf("image %d: content differs", i)
		}
	}
	if len(imgs[2]) > 8192 {
		t.Errorf("an all-zero disk made a %d-byte dynamic VHD", len(imgs[2]))
	}
}

// FuzzOpen feeds corrupt images to the reader: errors, never panics.
func FuzzOpen(f *testing.F) {
	for _, img := range smallImages(f) {
		f.Add(img)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := Open(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		buf := make([]byte, 64<<10)
		for off := int64(0); off < min(img.Size(), 1<<20); off += int64(len(buf)) {
			if _, err := img.ReadAt(buf, off); err != nil {
				return
			}
		}
	})
}
