package ova

import (
	"bytes"
	"context"
	"testing"

	"github.com/strata-dev/strata/exporters/formats/rawdisk"
)

// FuzzRead feeds corrupt packages to the reader: errors, never panics.
func FuzzRead(f *testing.F) {
	disk := make([]byte, 256<<10)
	copy(disk[99:], "hello, ova")
	var out bytes.Buffer
	if _, err := Write(context.Background(), &out, f.TempDir(), rawdisk.New(bytes.NewReader(disk), int64(len(disk))), Options{}); err != nil {
		f.Fatal(err)
	}
	f.Add(out.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = Read(bytes.NewReader(data), nil)
	})
}
