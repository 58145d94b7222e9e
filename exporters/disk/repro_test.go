package disk

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sha256File(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	must(t, err)
	defer f.Close()
	h := sha256.New()
	_, err = io.Copy(h, f)
	must(t, err)
	return hex.EncodeToString(h.Sum(nil))
}

// reproTree is the fidelity tree when running as root, else just the boot
// files and a few plain files.
func reproTree(t *testing.T) string {
	src := t.TempDir()
	must(t, os.Chmod(src, 0o755))
	if os.Geteuid() == 0 {
		makeFidelityTree(t, src)
	} else {
		writeBootFixture(t, src)
		must(t, os.MkdirAll(filepath.Join(src, "etc"), 0o755))
		must(t, os.WriteFile(filepath.Join(src, "etc/hostname"), []byte("strata-test\n"), 0o644))
	}
	return src
}

func TestAssembleReproducible(t *testing.T) {
	requireTools(t, "mke2fs")
	src := reproTree(t)
	opts := Options{Size: 192 << 20, ESPSize: 64 << 20, Seed: "sha256:repro", Cmdline: "console=ttyS0", Epoch: fixtureEpoch}
	dir := t.TempDir()
	build := func(name string, o Options) string {
		out := filepath.Join(dir, name)
		if _, err := Assemble(context.Background(), src, out, o); err != nil {
			t.Fatal(err)
		}
		return sha256File(t, out)
	}

	first := build("a.raw", opts)
	// Move the tree's atime, mtime-into-the-future and ctime between runs:
	// none of it may reach the image.
	now := time.Now()
	must(t, os.Chtimes(filepath.Join(src, "etc/hostname"), now, oldMtime))
	must(t, os.Chtimes(filepath.Join(src, "boot"), now.Add(time.Hour), now.Add(48*time.Hour)))
	time.Sleep(1100 * time.Millisecond) // a different second for anything clock-derived
	second := build("b.raw", opts)
	if first != second {
		t.Fatalf("same seed and epoch, different images: %s vs %s", first, second)
	}

	other := opts
	other.Seed = "sha256:other"
	if build("c.raw", other) == first {
		t.Error("a different seed gave the same image")
	}
	other = opts
	other.Epoch = fixtureEpoch.Add(time.Hour)
	if build("d.raw", other) == first {
		t.Error("a different epoch gave the same image")
	}
	assertOnlyOutputs(t, dir, "a.raw", "b.raw", "c.raw", "d.raw")
}

// assertOnlyOutputs fails if dir holds anything but names: temp images and
// work directories must be gone.
func assertOnlyOutputs(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	must(t, err)
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Errorf("%s holds %v, want %v", dir, got, names)
	}
}

func TestAssembleFailureLeavesNothing(t *testing.T) {
	requireTools(t, "mke2fs")
	dir := t.TempDir()
	out := filepath.Join(dir, "disk.raw")

	// No kernel: fails before the image exists.
	src := t.TempDir()
	_, err := Assemble(context.Background(), src, out, Options{Size: 256 << 20, ESPSize: 64 << 20})
	if err == nil || !strings.Contains(err.Error(), "linux-image-") {
		t.Fatalf("want a linux-image error, got %v", err)
	}
	assertOnlyOutputs(t, dir)

	// A tree larger than the root partition: fails in mke2fs, after the
	// GPT and ESP were written; its stderr must reach the error.
	writeBootFixture(t, src)
	big, err := os.Create(filepath.Join(src, "big"))
	must(t, err)
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i*7 + 1)
	}
	for range 200 {
		_, err := big.Write(buf)
		must(t, err)
	}
	must(t, big.Close())
	_, err = Assemble(context.Background(), src, out, Options{Size: 130 << 20, ESPSize: 64 << 20})
	if err == nil || !strings.Contains(err.Error(), "mke2fs") || !strings.Contains(err.Error(), "allocate") {
		t.Fatalf("want an mke2fs error with its stderr, got %v", err)
	}
	t.Logf("mke2fs failure reads: %v", err)
	assertOnlyOutputs(t, dir)

	// A cancelled context stops the run and cleans up too.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Assemble(ctx, src, out, Options{Size: 512 << 20, ESPSize: 64 << 20}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: %v", err)
	}
	assertOnlyOutputs(t, dir)
}

// With an epoch and no seed, as `SOURCE_DATE_EPOCH=... strata assemble`
// runs, the identifiers come from the inputs: equal trees give equal
// images, and any change to the tree or the options gives other
// identifiers.
func TestAssembleSeedFromInputs(t *testing.T) {
	requireTools(t, "mke2fs")
	src := reproTree(t)
	opts := Options{Size: 192 << 20, ESPSize: 64 << 20, Cmdline: "console=ttyS0", Epoch: fixtureEpoch}
	dir := t.TempDir()
	build := func(name string, o Options) (string, *Result) {
		out := filepath.Join(dir, name)
		res, err := Assemble(context.Background(), src, out, o)
		if err != nil {
			t.Fatal(err)
		}
		return sha256File(t, out), res
	}

	first, res := build("a.raw", opts)
	if !strings.HasPrefix(res.Seed, "inputs:sha256:") {
		t.Fatalf("seed %q, want one derived from the inputs", res.Seed)
	}
	if second, _ := build("b.raw", opts); second != first {
		t.Fatalf("same tree and epoch without a seed, different images: %s vs %s", first, second)
	}

	hostname := filepath.Join(src, "etc/hostname")
	must(t, os.WriteFile(hostname, []byte("strata-other\n"), 0o644))
	_, changed := build("c.raw", opts)
	if changed.Layout.RootFSUUID == res.Layout.RootFSUUID || changed.Layout.DiskGUID == res.Layout.DiskGUID {
		t.Error("a changed file kept the identifiers")
	}
	must(t, os.WriteFile(hostname, []byte("strata-test\n"), 0o644))
	must(t, os.Chmod(hostname, 0o600))
	if _, r := build("d.raw", opts); r.Seed == res.Seed {
		t.Error("a changed mode kept the seed")
	}
	must(t, os.Chmod(hostname, 0o644))
	other := opts
	other.Cmdline = "console=ttyS1"
	if _, r := build("e.raw", other); r.Seed == res.Seed {
		t.Error("a changed cmdline kept the seed")
	}

	unseeded := opts
	unseeded.Epoch = time.Time{}
	_, r1 := build("f.raw", unseeded)
	_, r2 := build("g.raw", unseeded)
	if !strings.HasPrefix(r1.Seed, "random:") || r1.Seed == r2.Seed {
		t.Errorf("without an epoch the seeds are %q and %q, want two random ones", r1.Seed, r2.Seed)
	}
}
