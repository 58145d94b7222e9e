package providers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-dev/strata/exporters/formats"
)

func TestEveryProviderIsComplete(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range All {
		if seen[p.Name] {
			t.Errorf("provider %s is listed twice", p.Name)
		}
		seen[p.Name] = true
		if len(p.Formats) == 0 {
			t.Errorf("%s: no formats", p.Name)
		}
		for _, f := range p.Formats {
			if _, err := formats.Lookup(f); err != nil {
				t.Errorf("%s: %v", p.Name, err)
			}
		}
		if p.BootMode != "uefi" {
			t.Errorf("%s: boot mode %q; strata images boot with UEFI", p.Name, p.BootMode)
		}
		if p.Description == "" {
			t.Errorf("%s: no description", p.Name)
		}
		if _, err := os.Stat(filepath.Join("..", "..", p.Docs)); err != nil {
			t.Errorf("%s: its docs page: %v", p.Name, err)
		}
	}
}

func TestLookupAndFormat(t *testing.T) {
	if _, err := Lookup("ec2"); err == nil || !strings.Contains(err.Error(), "raw, qemu, aws") {
		t.Errorf("Lookup(ec2) = %v, want an error listing the providers", err)
	}
	p, err := Lookup("vsphere")
	if err != nil {
		t.Fatal(err)
	}
	if f, err := p.Format(""); f != "ova" || err != nil {
		t.Errorf("vsphere default format = %q, %v; want ova", f, err)
	}
	if f, err := p.Format("vmdk"); f != "vmdk" || err != nil {
		t.Errorf("vsphere --format vmdk = %q, %v", f, err)
	}
	if _, err := p.Format("vhd"); err == nil || err.Error() != "format vhd does not apply to provider vsphere, which imports ova or vmdk" {
		t.Errorf("vsphere --format vhd: %v", err)
	}
}

func TestCheckSize(t *testing.T) {
	for _, tc := range []struct {
		provider string
		size     int64
		want     string // "" accepts
	}{
		{"gcp", 2 * gib, ""},
		{"gcp", 2*gib + 512*mib, "gcp needs a disk size that is a multiple of 1GiB (GCE imports disk.raw of whole GiB, at most 2 TiB); 2560MiB is not: use 3GiB"},
		{"gcp", 4096 * gib, "gcp accepts disks of at most 2048GiB"},
		{"azure", 2040 * gib, ""},
		{"azure", 2041 * gib, "azure accepts disks of at most 2040GiB (an Azure upload is at least 20 MiB, and a VHD holds at most 2040 GiB); 2041GiB is too large"},
		{"azure", 10 * mib, "azure accepts disks of at least 20MiB"},
		{"aws", 512 * mib, "aws accepts disks of at least 1GiB"},
		{"raw", 3*mib + 512, ""},
		{"vsphere", 63 << 40, "vsphere accepts disks of at most 63488GiB"},
	} {
		p, err := Lookup(tc.provider)
		if err != nil {
			t.Fatal(err)
		}
		err = p.CheckSize(tc.size)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s takes %d bytes, but: %v", tc.provider, tc.size, err)
		case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
			t.Errorf("%s with %d bytes: %v; want %q", tc.provider, tc.size, err, tc.want)
		}
	}
}

// TestConvertEveryProvider writes each provider's default output from one
// small disk and checks the manifest against the files themselves; where
// qemu-img reads the format, that the image holds the same disk.
func TestConvertEveryProvider(t *testing.T) {
	src := sparseDisk(t, gib)
	for _, p := range All {
		t.Run(p.Name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), p.Name)
			m, err := Convert(context.Background(), src, dir, p, Options{
				Options: formats.Options{Seed: "test"},
				Source:  Source{SpecName: "node", SpecDigest: "sha256:abc", StrataVersion: "test"},
			})
			if err != nil {
				t.Fatal(err)
			}
			read, err := ReadManifest(dir)
			if err != nil {
				t.Fatal(err)
			}
			if read.Provider != p.Name || read.SpecDigest != "sha256:abc" || read.BootMode != "uefi" || read.VirtualSize != m.VirtualSize || read.VirtualSize < gib {
				t.Errorf("manifest: %+v", read)
			}
			if read.Guest != nil {
				t.Errorf("manifest lists guest configuration %+v that converting a disk does not apply", read.Guest)
			}
			if len(read.Files) != 1 || read.Files[0].Format != p.Formats[0] {
				t.Fatalf("manifest files: %+v, want one %s", read.Files, p.Formats[0])
			}
			file := read.Files[0]
			path := filepath.Join(dir, file.Name)
			if fi, err := os.Stat(path); err != nil || fi.Size() != file.Size {
				t.Errorf("%s: %v; the manifest says %d bytes", path, err, file.Size)
			}
			if got := sha256File(t, path); got != file.SHA256 {
				t.Errorf("%s has sha256 %s, the manifest says %s", file.Name, got, file.SHA256)
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 2 {
				t.Errorf("%s holds %d entries, want the image and %s", dir, len(entries), ManifestFile)
			}
			if f, _ := formats.Lookup(file.Format); f.QemuFormat != "" {
				qemuCompare(t, src, path, f.QemuFormat)
			}
		})
	}
}

func TestConvertRejectsBeforeWriting(t *testing.T) {
	src := sparseDisk(t, gib+512*mib)
	gcp, _ := Lookup("gcp")
	aws, _ := Lookup("aws")
	for _, tc := range []struct {
		p      Provider
		format string
		want   string
	}{
		{gcp, "", "gcp needs a disk size that is a multiple of 1GiB"},
		{aws, "vhd", "format vhd does not apply to provider aws"},
	} {
		dir := filepath.Join(t.TempDir(), "out")
		_, err := Convert(context.Background(), src, dir, tc.p, Options{Format: tc.format})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.p.Name, err, tc.want)
		}
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("%s: a rejected conversion created %s", tc.p.Name, dir)
		}
	}
}

// sparseDisk is a disk of size bytes with data at its start, in its middle
// and in its last block, holes between.
func sparseDisk(t *testing.T, size int64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "disk.raw")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, off := range []int64{0, 300 * mib, size - 4096} {
		b := make([]byte, 4096)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return path
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// qemuCompare checks with qemu-img that image holds the raw disk; the
// GCE archive and the OVA are checked by their own packages' readers.
func qemuCompare(t *testing.T, raw, image, format string) {
	t.Helper()
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Fatal("qemu-img is not installed: install qemu-utils (e2e/setup-host.sh does)")
	}
	args := []string{"compare", "-f", "raw", "-F", format, raw, image}
	if out, err := exec.Command("qemu-img", args...).CombinedOutput(); err != nil {
		t.Errorf("qemu-img %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}
