package rawdisk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

const blk = 64 << 10

// sparseDisk writes a disk of 40 blocks plus 1000 bytes: data in blocks 0,
// 5-6 (only the last byte of 6), a written-but-zero block 9 next to data in
// block 10, and data in the short last block. Everything else is a hole.
func sparseDisk(t *testing.T) (path string, want []int64) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "disk.raw")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	size := int64(40*blk + 1000)
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	put := func(off int64, b []byte) {
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	put(0, []byte("first block"))
	put(5*blk, bytes.Repeat([]byte{7}, blk))
	put(7*blk-1, []byte{1})
	put(9*blk, make([]byte, 2*blk)) // allocated zeros
	put(10*blk+100, []byte("ten"))
	put(40*blk+999, []byte{9})
	return path, []int64{0, 5, 6, 10, 40}
}

func usedBlocks(t *testing.T, d *Disk) []int64 {
	t.Helper()
	var got []int64
	err := d.Scan(context.Background(), ScanOptions{BlockSize: blk, BatchBlocks: 3}, func(b *Batch) error {
		defer b.Release()
		for i := range b.Blocks() {
			if b.Used(i) {
				got = append(got, b.Index(i))
			}
			if !b.Used(i) && !bytes.Equal(b.Block(i), make([]byte, blk)) {
				t.Errorf("block %d has data but is marked unused", b.Index(i))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestScanFindsDataBlocks(t *testing.T) {
	path, want := sparseDisk(t)
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if got := usedBlocks(t, d); !slices.Equal(got, want) {
		t.Errorf("file: used blocks %v, want %v", got, want)
	}

	// A plain ReaderAt (no SEEK_DATA) must give the same answer by reading.
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	mem := New(bytes.NewReader(raw), int64(len(raw)))
	if got := usedBlocks(t, mem); !slices.Equal(got, want) {
		t.Errorf("reader: used blocks %v, want %v", got, want)
	}
}

func TestScanOverlappedSeesTheSameBatches(t *testing.T) {
	path, want := sparseDisk(t)
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var got []int64
	err = d.ScanOverlapped(context.Background(), ScanOptions{BlockSize: blk, BatchBlocks: 2}, func(b *Batch) error {
		defer b.Release()
		for i := range b.Blocks() {
			if b.Used(i) {
				got = append(got, b.Index(i))
			}
		}
		return nil
	})
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("used blocks %v (%v), want %v", got, err, want)
	}
}

func TestMapMergesRuns(t *testing.T) {
	path, _ := sparseDisk(t)
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	got, err := d.Map(context.Background(), blk)
	if err != nil {
		t.Fatal(err)
	}
	want := []Extent{{0, blk}, {5 * blk, 2 * blk}, {10 * blk, blk}, {40 * blk, blk}}
	if !slices.Equal(got, want) {
		t.Errorf("Map = %v, want %v", got, want)
	}
}

func TestReadAtPastEndReadsZeros(t *testing.T) {
	d := New(bytes.NewReader([]byte("abc")), 3)
	buf := []byte("xxxxxx")
	n, err := d.ReadAt(buf, 1)
	if err != nil || n != 6 || string(buf) != "bc\x00\x00\x00\x00" {
		t.Fatalf("ReadAt = %d, %v, %q", n, err, buf)
	}
	// A source shorter than its declared size is an error, not zeros.
	short := New(bytes.NewReader([]byte("abc")), 10)
	if _, err := short.ReadAt(make([]byte, 8), 0); err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short source: %v, want unexpected EOF", err)
	}
}

func TestScanRejectsBadBlockSize(t *testing.T) {
	d := New(bytes.NewReader(nil), 0)
	for _, bs := range []int{0, 100, 3000} {
		if err := d.Scan(context.Background(), ScanOptions{BlockSize: bs}, func(*Batch) error { return nil }); err == nil {
			t.Errorf("block size %d accepted", bs)
		}
	}
}

// TestScanSkipsKnownBlocks: blocks Known vouches for are not read, take
// the used flag it gives, and say so (Batch.Read); the others are read and
// looked at as usual.
func TestScanSkipsKnownBlocks(t *testing.T) {
	path, _ := sparseDisk(t)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Blocks 5 and 6 hold data, 9 is zeros, 10 has data; vouch for 5 (as
	// used) and 9-10 (as unused, which 10 is not: Known is believed).
	known := map[int64]bool{5: true, 9: false, 10: false}
	r := &refusingReader{r: bytes.NewReader(raw), refuse: []int64{5, 9, 10}}
	d := New(r, int64(len(raw)))
	var used, unread []int64
	err = d.Scan(context.Background(), ScanOptions{BlockSize: blk, BatchBlocks: 4, Known: func(off int64) (bool, bool) {
		u, ok := known[off/blk]
		return u, ok
	}}, func(b *Batch) error {
		defer b.Release()
		for i := range b.Blocks() {
			if b.Used(i) {
				used = append(used, b.Index(i))
			}
			if !b.Read(i) {
				unread = append(unread, b.Index(i))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int64{0, 5, 6, 40}; !slices.Equal(used, want) {
		t.Errorf("used blocks %v, want %v", used, want)
	}
	// Blocks 9-10, vouched for as unused, make a batch with nothing in it,
	// which is dropped.
	if want := []int64{5}; !slices.Equal(unread, want) {
		t.Errorf("unread blocks %v, want %v", unread, want)
	}
}

// refusingReader fails any read that touches one of the refused blocks.
type refusingReader struct {
	r      io.ReaderAt
	refuse []int64
}

func (r *refusingReader) ReadAt(p []byte, off int64) (int, error) {
	for _, b := range r.refuse {
		if off < (b+1)*blk && b*blk < off+int64(len(p)) {
			return 0, fmt.Errorf("block %d read", b)
		}
	}
	return r.r.ReadAt(p, off)
}
