package disk

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-dev/strata/exporters/atomicfile"
)

// failDebugfs puts a stand-in debugfs first on PATH that notes what dir
// holds when it runs, then fails as debugfs out of space would. It
// returns the file the listing goes to.
func failDebugfs(t *testing.T, dir string) string {
	t.Helper()
	bin := t.TempDir()
	seen := filepath.Join(bin, "seen")
	script := "#!/bin/sh\nls -a " + dir + " >> " + seen + "\necho 'debugfs: Could not allocate block' >&2\nexit 1\n"
	must(t, os.WriteFile(filepath.Join(bin, "debugfs"), []byte(script), 0o755))
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	return seen
}

// snapshot is every file of dir with its contents.
func snapshot(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	must(t, err)
	files := map[string][]byte{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		must(t, err)
		files[e.Name()] = b
	}
	return files
}

func sameSnapshot(t *testing.T, dir string, want map[string][]byte) {
	t.Helper()
	got := snapshot(t, dir)
	if len(got) != len(want) {
		var names []string
		for n := range got {
			names = append(names, n)
		}
		t.Errorf("%s holds %v, want the %d files it held before", dir, names, len(want))
	}
	for name, b := range want {
		if !bytes.Equal(got[name], b) {
			t.Errorf("%s/%s changed", dir, name)
		}
	}
}

// TestAddLayerInPlaceFailsMidway: add-layer writing over its own base
// (-o BASE.raw) that fails while debugfs writes the layer, with the copy
// of the base under way beside it, leaves the base as it was and no
// temporary file or work directory.
func TestAddLayerInPlaceFailsMidway(t *testing.T) {
	requireRoot(t)
	requireTools(t, "mke2fs", "debugfs")
	base := assembleBase(t, 256<<20, func(root string) {
		must(t, os.MkdirAll(filepath.Join(root, "usr/bin"), 0o755))
		must(t, os.WriteFile(filepath.Join(root, "usr/bin/kept"), randomBytes(8<<20, 4), 0o755))
	})
	layer := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(layer, "usr/bin"), 0o755))
	must(t, os.WriteFile(filepath.Join(layer, "usr/bin/new"), randomBytes(1<<20, 5), 0o755))
	dir := filepath.Dir(base)
	before := snapshot(t, dir)

	seen := failDebugfs(t, dir)
	_, err := AddLayer(context.Background(), base, layer, base, LayerOptions{Epoch: fixtureEpoch})
	if err == nil || !strings.Contains(err.Error(), "Could not allocate block") {
		t.Fatalf("got %v, want debugfs's failure", err)
	}
	if listing, _ := os.ReadFile(seen); !strings.Contains(string(listing), ".base.raw"+atomicfile.Marker) {
		t.Fatalf("debugfs ran with no temporary image beside the base (%q): not midway", listing)
	}
	sameSnapshot(t, dir, before)
}

// TestAddLayerDeltaFailsMidway: a delta run that fails keeps the delta an
// earlier run wrote to the directory, image and manifest, and leaves
// nothing else there; OpenDelta still reads the earlier one.
func TestAddLayerDeltaFailsMidway(t *testing.T) {
	requireRoot(t)
	requireTools(t, "mke2fs", "debugfs")
	base := assembleBase(t, 256<<20, func(root string) {
		must(t, os.MkdirAll(filepath.Join(root, "usr/bin"), 0o755))
	})
	layer := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(layer, "usr/bin"), 0o755))
	must(t, os.WriteFile(filepath.Join(layer, "usr/bin/new"), randomBytes(1<<20, 6), 0o755))
	dir := filepath.Join(t.TempDir(), "delta")
	_, err := AddLayerDelta(context.Background(), base, layer, dir, LayerOptions{Epoch: fixtureEpoch})
	must(t, err)
	before := snapshot(t, dir)

	seen := failDebugfs(t, dir)
	must(t, os.WriteFile(filepath.Join(layer, "usr/bin/another"), randomBytes(1<<20, 7), 0o755))
	if _, err := AddLayerDelta(context.Background(), base, layer, dir, LayerOptions{Epoch: fixtureEpoch}); err == nil {
		t.Fatal("the delta run with a failing debugfs succeeded")
	}
	if listing, _ := os.ReadFile(seen); !strings.Contains(string(listing), "."+deltaImage+atomicfile.Marker) {
		t.Fatalf("debugfs ran with no temporary image in the delta directory (%q): not midway", listing)
	}
	sameSnapshot(t, dir, before)
	d, err := OpenDelta(dir, base)
	must(t, err)
	d.Close()
}

// TestAssembleFailureKeepsTheEarlierDisk: an assembly that fails in mke2fs,
// after the GPT and the ESP went into its temporary image, leaves the
// disk an earlier run wrote as it was.
func TestAssembleFailureKeepsTheEarlierDisk(t *testing.T) {
	requireTools(t, "mke2fs")
	dir := t.TempDir()
	out := filepath.Join(dir, "disk.raw")
	must(t, os.WriteFile(out, []byte("earlier run"), 0o644))
	src := t.TempDir()
	writeBootFixture(t, src)
	must(t, os.WriteFile(filepath.Join(src, "big"), randomBytes(100<<20, 8), 0o644))
	_, err := Assemble(context.Background(), src, out, Options{Size: 130 << 20, ESPSize: 64 << 20})
	if err == nil || !strings.Contains(err.Error(), "mke2fs") {
		t.Fatalf("got %v, want mke2fs's failure", err)
	}
	assertOnlyOutputs(t, dir, "disk.raw")
	if b, _ := os.ReadFile(out); string(b) != "earlier run" {
		t.Errorf("disk.raw holds %d bytes, want the earlier run's untouched", len(b))
	}
}
