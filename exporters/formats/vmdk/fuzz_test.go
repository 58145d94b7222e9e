package vmdk

import (
	"bytes"
	"context"
	"testing"

	"github.com/strata-dev/strata/exporters/formats/rawdisk"
)

func seedImage(t testing.TB) []byte {
	disk := make([]byte, 1<<20)
	copy(disk[7:], "hello, vmdk")
	for i := range 9000 {
		disk[3*grainBytes+i] = byte(i * 13)
	}
	disk[len(disk)-1] = 1
	var out bytes.Buffer
	if _, err := Write(context.Background(), &out, rawdisk.New(bytes.NewReader(disk), int64(len(disk))), Options{Seed: "fuzz"}); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// FuzzOpen feeds corrupt extents to the reader: errors, never panics.
func FuzzOpen(f *testing.F) {
	f.Add(seedImage(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := Open(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		_ = img.CreateType()
		buf := make([]byte, 64<<10)
		for off := int64(0); off < min(img.Size(), 1<<20); off += int64(len(buf)) {
			if _, err := img.ReadAt(buf, off); err != nil {
				return
			}
		}
	})
}
