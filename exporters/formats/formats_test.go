package formats

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-dev/strata/exporters/formats/gce"
	"github.com/strata-dev/strata/exporters/formats/internal/testdisk"
	"github.com/strata-dev/strata/exporters/formats/ova"
)

func TestConvertEveryFormat(t *testing.T) {
	testdisk.NeedQemuImg(t)
	dir := t.TempDir()
	raw := testdisk.Synthetic(t, dir, 24<<20+3*512, 9)
	st, _ := os.Stat(raw)
	for _, f := range All {
		t.Run(f.Name, func(t *testing.T) {
			out := t.TempDir()
			dst := filepath.Join(out, f.OutputName(raw))
			res, err := Convert(context.Background(), raw, dst, f, Options{Seed: "s"})
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.Stat(dst)
			if err != nil || got.Size() != res.Size || got.Mode().Perm() != 0o644 {
				t.Fatalf("output %v (%v), want %d bytes, mode 0644", got, err, res.Size)
			}
			if entries, _ := os.ReadDir(out); len(entries) != 1 {
				t.Errorf("%d files in the output directory, want just the image", len(entries))
			}
			if res.VirtualSize != f.VirtualSize(st.Size()) || res.VirtualSize < st.Size() {
				t.Errorf("virtual size %d for a %d-byte disk", res.VirtualSize, st.Size())
			}
			switch f.Name {
			case "gce":
				checkGCE(t, dst, res.VirtualSize)
				return
			case "ova":
				checkOVA(t, dst, res.VirtualSize)
				return
			}
			probe := ""
			if f.Name == "vhd" {
				probe = "vpc" // a fixed VHD cannot be probed
			}
			info := testdisk.QemuInfo(t, dst, probe)
			if info.Format != f.QemuFormat || info.VirtualSize != res.VirtualSize {
				t.Errorf("qemu-img: %s of %d bytes, want %s of %d", info.Format, info.VirtualSize, f.QemuFormat, res.VirtualSize)
			}
			testdisk.QemuCompare(t, raw, dst, f.QemuFormat)
		})
	}
}

func checkGCE(t *testing.T, path string, size int64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	e, err := gce.Extract(f, discardAt{})
	if err != nil || e.Size != size {
		t.Fatalf("archive: %+v, %v; want a %d-byte disk.raw", e, err, size)
	}
}

func checkOVA(t *testing.T, path string, capacity int64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := ova.Read(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, file := range p.Files {
		names = append(names, file.Name)
	}
	stem := strings.TrimSuffix(filepath.Base(path), ".ova")
	if want := []string{stem + ".ovf", stem + "-disk1.vmdk", stem + ".mf"}; strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("package holds %v, want %v", names, want)
	}
	if len(p.Disks) != 1 || p.Disks[0].Capacity != capacity {
		t.Errorf("disks %+v, want one of %d bytes", p.Disks, capacity)
	}
}

type discardAt struct{}

func (discardAt) WriteAt(p []byte, _ int64) (int, error) { return len(p), nil }

func TestFailedConvertLeavesNothing(t *testing.T) {
	raw := testdisk.Synthetic(t, t.TempDir(), 8<<20, 3)
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f, _ := Lookup("qcow2-compressed")
	if _, err := Convert(ctx, raw, filepath.Join(out, "x.qcow2"), f, Options{}); err == nil {
		t.Fatal("canceled conversion succeeded")
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
}

func TestLookup(t *testing.T) {
	if _, err := Lookup("vdi"); err == nil || !strings.Contains(err.Error(), "qcow2-compressed") {
		t.Errorf("error %v should list the valid formats", err)
	}
	f, err := Lookup("gce")
	if err != nil || f.OutputName("/x/node.raw") != "node.tar.gz" {
		t.Errorf("gce: %v, output name %q", err, f.OutputName("/x/node.raw"))
	}
}
