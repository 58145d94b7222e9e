package disk

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/strata-dev/strata/exporters/formats"
)

// TestInspectFindsProblems builds a disk by hand whose boot configuration
// is wrong in three ways and expects Inspect to name each.
func TestInspectFindsProblems(t *testing.T) {
	rep, err := Inspect(problemDisk(t, t.TempDir()))
	must(t, err)
	want := []string{
		"refers to /strata/2.0/vmlinuz, which is not on the ESP",
		"root=PARTUUID=00000000-0000-4000-8000-000000000000 matches no partition",
		`default "missing-*.conf" matches no entry`,
	}
	if len(rep.Problems) != len(want) {
		t.Errorf("problems %q, want %d", rep.Problems, len(want))
	}
	for _, w := range want {
		found := false
		for _, p := range rep.Problems {
			found = found || strings.Contains(p, w)
		}
		if !found {
			t.Errorf("no problem mentioning %q in %q", w, rep.Problems)
		}
	}
	if rep.Loader.Timeout != "3" || len(rep.Loader.Entries) != 2 || rep.DefaultEntry() != nil {
		t.Errorf("loader %+v", rep.Loader)
	}
	if rep.Partitions[1].Filesystem != nil {
		t.Errorf("empty root partition reported as %+v", rep.Partitions[1].Filesystem)
	}
	if fs := rep.Partitions[0].Filesystem; fs == nil || fs.Type != "vfat" || fs.UUID == "" {
		t.Errorf("ESP filesystem %+v", fs)
	}
}

// TestInspectConvertedImages: Inspect reads the disk inside a qcow2, VHD
// or VMDK as it reads the raw disk, and refuses archives with a hint.
func TestInspectConvertedImages(t *testing.T) {
	dir := t.TempDir()
	src := problemDisk(t, dir)
	want, err := Inspect(src)
	must(t, err)
	for _, name := range []string{"qcow2", "qcow2-compressed", "vhd", "vhd-dynamic", "vmdk", "gce"} {
		f, err := formats.Lookup(name)
		must(t, err)
		dst := filepath.Join(dir, name+"."+f.Extension)
		_, err = formats.Convert(context.Background(), src, dst, f, formats.Options{Seed: "inspect"})
		must(t, err)
		got, err := Inspect(dst)
		if name == "gce" {
			if err == nil || !strings.Contains(err.Error(), "extract its disk.raw first") {
				t.Errorf("Inspect of a GCE archive: %v", err)
			}
			continue
		}
		must(t, err)
		if got.Format != strings.TrimSuffix(strings.TrimSuffix(name, "-compressed"), "-dynamic") {
			t.Errorf("%s: format %q", name, got.Format)
		}
		if got.Size != f.VirtualSize(want.Size) {
			t.Errorf("%s: size %d, want %d", name, got.Size, f.VirtualSize(want.Size))
		}
		if !reflect.DeepEqual(got.Partitions, want.Partitions) || !reflect.DeepEqual(got.Loader, want.Loader) ||
			!reflect.DeepEqual(got.ESPFiles, want.ESPFiles) || !reflect.DeepEqual(got.Problems, want.Problems) {
			t.Errorf("%s: the report differs from the raw disk's:\n got %+v\nwant %+v", name, got, want)
		}
	}
}

// problemDisk writes a disk whose boot configuration is wrong in three
// ways: an entry without its kernel, a root= no partition has, a default
// that matches no entry.
func problemDisk(t *testing.T, dir string) string {
	t.Helper()
	l, err := PlanLayout(Options{Size: 130 << 20, ESPSize: 64 << 20, Seed: "inspect"})
	must(t, err)
	img, err := os.Create(filepath.Join(dir, "disk.raw"))
	must(t, err)
	defer img.Close()
	must(t, img.Truncate(l.DiskSize))
	must(t, writeGPT(img, l))

	good := newLoaderEntry("Good", "1.0", l.Root.GUID, "")
	bad := newLoaderEntry("Bad", "2.0", "00000000-0000-4000-8000-000000000000", "")
	esp := filepath.Join(dir, "esp.img")
	must(t, buildESP(esp, l.ESP.Size(), l.ESPVolumeID, fixtureEpoch, []espFile{
		{Path: good.Linux, Data: []byte("k")},
		{Path: good.Initrd, Data: []byte("i")},
		{Path: bad.Initrd, Data: []byte("i")}, // but no bad.Linux
		{Path: espLoaderConf, Data: []byte("timeout 3\ndefault missing-*.conf\n")},
		{Path: good.Path(), Data: []byte(good.Conf())},
		{Path: bad.Path(), Data: []byte(bad.Conf())},
	}))
	must(t, placeFile(img, l.ESP.Start, esp))
	return img.Name()
}
