package gce

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/strata-dev/strata/exporters/formats/rawdisk"
)

// limitedAt fails writes past 8 MiB, so a fuzzed header claiming a huge
// disk cannot make a run take forever.
type limitedAt struct{}

func (limitedAt) WriteAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > 8<<20 {
		return 0, errors.New("limit")
	}
	return len(p), nil
}

// FuzzExtract feeds corrupt archives to the reader: errors, never panics.
func FuzzExtract(f *testing.F) {
	disk := make([]byte, 256<<10)
	copy(disk[1000:], "hello, gce")
	for i := 70000; i < 140000; i++ {
		disk[i] = byte(i % 251)
	}
	var out bytes.Buffer
	if _, err := Write(context.Background(), &out, rawdisk.New(bytes.NewReader(disk), int64(len(disk))), Options{}); err != nil {
		f.Fatal(err)
	}
	f.Add(out.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = Extract(bytes.NewReader(data), limitedAt{})
	})
}
