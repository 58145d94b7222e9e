package formats

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/strata-dev/strata/exporters/atomicfile"
	"github.com/strata-dev/strata/exporters/formats/internal/testdisk"
	"github.com/strata-dev/strata/exporters/formats/rawdisk"
)

// failingLayer is a layer whose reads fail, as a delta image on a disk
// that went bad would, once the conversion has written some of its
// temporary files in dir; until then it reads as data (a format that
// maps the disk first reads it twice).
type failingLayer struct {
	dir     string
	written atomic.Int64
}

var errLayerRead = errors.New("layer read failed")

func (l *failingLayer) ReadAt(p []byte, _ int64) (int, error) {
	entries, _ := os.ReadDir(l.dir)
	var n int64
	for _, e := range entries {
		if strings.Contains(e.Name(), atomicfile.Marker) {
			if fi, err := e.Info(); err == nil {
				n += fi.Size()
			}
		}
	}
	if n == 0 {
		for i := range p {
			p[i] = 0xa5
		}
		return len(p), nil
	}
	l.written.Store(n)
	return 0, errLayerRead
}

// TestConvertFailsMidway: for every format, a conversion whose reads of
// the disk fail near its end, after it has written part of the image,
// leaves the image an earlier run wrote as it was and nothing else.
func TestConvertFailsMidway(t *testing.T) {
	const size = 64 << 20
	raw := testdisk.Synthetic(t, t.TempDir(), size, 4)
	for _, f := range All {
		t.Run(f.Name, func(t *testing.T) {
			out := t.TempDir()
			dst := filepath.Join(out, f.OutputName(raw))
			if err := os.WriteFile(dst, []byte("earlier run"), 0o644); err != nil {
				t.Fatal(err)
			}
			layer := &failingLayer{dir: out}
			// The last 8 KiB: every writer reads the disk in order.
			o := Options{Seed: "s", Workers: 1, Layer: &Layer{Image: layer, Changes: []rawdisk.Extent{{Off: size - 8192, Len: 8192}}}}
			if _, err := Convert(context.Background(), raw, dst, f, o); !errors.Is(err, errLayerRead) {
				t.Fatalf("got %v, want the layer's read error", err)
			}
			if layer.written.Load() == 0 {
				t.Fatal("nothing was written before the failure: not midway")
			}
			entries, _ := os.ReadDir(out)
			if len(entries) != 1 || entries[0].Name() != filepath.Base(dst) {
				t.Errorf("%s holds %v, want the earlier image alone", out, entries)
			}
			if b, _ := os.ReadFile(dst); string(b) != "earlier run" {
				t.Errorf("%s holds %d bytes, want the earlier run's file untouched", dst, len(b))
			}
		})
	}
}
