package providers

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/strata-dev/strata/exporters/formats"
	"github.com/strata-dev/strata/exporters/formats/rawdisk"
)

// brokenLayer fails every read, as a delta image on a failing disk would.
type brokenLayer struct{}

var errBroken = errors.New("layer read failed")

func (brokenLayer) ReadAt([]byte, int64) (int, error) { return 0, errBroken }

// TestFailedConvertKeepsTheEarlierOutput: a conversion that fails after
// it began writing leaves the directory an earlier one wrote as it was,
// image and manifest, and no temporary file.
func TestFailedConvertKeepsTheEarlierOutput(t *testing.T) {
	src := sparseDisk(t, gib)
	dir := filepath.Join(t.TempDir(), "qemu")
	p, err := Lookup("qemu")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Convert(context.Background(), src, dir, p, Options{Options: formats.Options{Seed: "a"}}); err != nil {
		t.Fatal(err)
	}
	before := map[string]string{}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		before[e.Name()] = sha256File(t, filepath.Join(dir, e.Name()))
	}

	// The disk's middle comes from a layer that cannot be read.
	layer := &formats.Layer{Image: brokenLayer{}, Changes: []rawdisk.Extent{{Off: 300 * mib, Len: 4096}}}
	_, err = Convert(context.Background(), src, dir, p, Options{Options: formats.Options{Seed: "b", Layer: layer}})
	if !errors.Is(err, errBroken) {
		t.Fatalf("got %v, want the layer's read error", err)
	}
	entries, _ = os.ReadDir(dir)
	if len(entries) != len(before) {
		t.Errorf("%s holds %v, want the earlier %d files alone", dir, entries, len(before))
	}
	for name, sum := range before {
		if got := sha256File(t, filepath.Join(dir, name)); got != sum {
			t.Errorf("%s changed: the failed conversion replaced it", name)
		}
	}
}
