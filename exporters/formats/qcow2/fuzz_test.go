package qcow2

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/strata-dev/strata/exporters/formats/rawdisk"
)

// seedImage is a small valid image for the fuzzer to mutate: a 1 MiB disk
// with a few clusters of data.
func seedImage(t testing.TB, compress bool) []byte {
	disk := make([]byte, 1<<20)
	copy(disk[3:], "hello, qcow2")
	for i := range 20000 {
		disk[5*clusterSize+i] = byte(i * 7)
	}
	disk[len(disk)-1] = 1
	var out writerAtBuffer
	if _, err := Write(context.Background(), &out, rawdisk.New(bytes.NewReader(disk), int64(len(disk))), Options{Compress: compress}); err != nil {
		t.Fatal(err)
	}
	return out.b
}

// FuzzOpen feeds corrupt images to the reader: it must return errors, never
// panic, hang or allocate without bound.
func FuzzOpen(f *testing.F) {
	f.Add(seedImage(f, false))
	f.Add(seedImage(f, true))
	// Small-cluster images made by qemu-img keep the fuzzer fast.
	for _, name := range qemuMade {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := Open(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		_ = img.Check()
		buf := make([]byte, 64<<10)
		for off := int64(0); off < min(img.Size(), 1<<20); off += int64(len(buf)) {
			if _, err := img.ReadAt(buf, off); err != nil {
				return
			}
		}
	})
}

type writerAtBuffer struct{ b []byte }

func (w *writerAtBuffer) WriteAt(p []byte, off int64) (int, error) {
	if end := int(off) + len(p); end > len(w.b) {
		w.b = append(w.b, make([]byte, end-len(w.b))...)
	}
	copy(w.b[off:], p)
	return len(p), nil
}
