package disk

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/fat32"
)

// TestInspectESPRefusesDotNames: a corrupt root directory can hold a file
// named "." (FuzzInspectESP found one), which listed as the ESP file "/.".
// Inspect reports such a volume corrupt instead.
func TestInspectESPRefusesDotNames(t *testing.T) {
	for _, name := range []string{".", ".."} {
		t.Run(name, func(t *testing.T) {
			const size = 128 << 10
			img, _, fs := newFATImage(t, size)
			// A lower-case name gets a long-name entry, whose UTF-16
			// characters then become the dots.
			must(t, writeESPFile(fs, espFile{Path: "/xy", Data: []byte("x")}))
			data, err := os.ReadFile(img)
			must(t, err)
			long := []byte("x\x00y\x00\x00\x00")
			if bytes.Count(data, long) != 1 {
				t.Fatalf("the volume holds %d long names %q", bytes.Count(data, long), long)
			}
			at := bytes.Index(data, long)
			data[at], data[at+2] = '.', '.'
			if name == "." {
				data[at+2], data[at+3] = 0, 0
			}
			must(t, os.WriteFile(img, data, 0o644))

			fd, err := os.Open(img)
			must(t, err)
			defer fd.Close()
			r := &Report{}
			err = inspectESP(r, file.New(fd, true), PartitionReport{Start: 0, End: size})
			for _, ef := range r.ESPFiles {
				if ef.Path == "/"+name || ef.Path == "/" {
					t.Errorf("listed the ESP file %q", ef.Path)
				}
			}
			if err == nil || !strings.Contains(err.Error(), "entry named") {
				t.Errorf("inspectESP = %v, want an error naming the entry", err)
			}
		})
	}
}

// TestInspectESPBootLoaders: an ESP with systemd-boot's configuration is
// read as such; one with GRUB's files instead, as vendors' cloud images
// and Flatcar boot, is reported as GRUB without a problem; one with
// neither is a problem.
func TestInspectESPBootLoaders(t *testing.T) {
	for name, c := range map[string]struct {
		files    []espFile
		grub     []string
		problems int
	}{
		"systemd-boot": {files: []espFile{
			{Path: "/EFI/BOOT/BOOTX64.EFI", Data: []byte("sd-boot")},
			{Path: "/loader/loader.conf", Data: []byte("default a.conf\n")},
			{Path: "/loader/entries/a.conf", Data: []byte("title a\nlinux /vmlinuz\n")},
			{Path: "/vmlinuz", Data: []byte("k")},
		}},
		"grub, as Debian's cloud images": {files: []espFile{
			{Path: "/EFI/BOOT/BOOTX64.EFI", Data: []byte("shim")},
			{Path: "/EFI/debian/grubx64.efi", Data: []byte("grub")},
			{Path: "/EFI/debian/grub.cfg", Data: []byte("configfile $prefix/grub.cfg\n")},
		}, grub: []string{"/EFI/debian/grubx64.efi", "/EFI/debian/grub.cfg"}},
		"neither": {files: []espFile{{Path: "/EFI/BOOT/BOOTX64.EFI", Data: []byte("?")}}, problems: 1},
	} {
		t.Run(name, func(t *testing.T) {
			const size = 1 << 20
			_, f, fs := newFATImage(t, size)
			for _, ef := range c.files {
				must(t, writeESPFile(fs, ef))
			}
			r := &Report{}
			must(t, inspectESP(r, file.New(f, true), PartitionReport{Start: 0, End: size}))
			if len(r.Problems) != c.problems {
				t.Errorf("problems %q, want %d", r.Problems, c.problems)
			}
			if strings.Join(r.GRUB, " ") != strings.Join(c.grub, " ") {
				t.Errorf("GRUB files %q, want %q", r.GRUB, c.grub)
			}
			if systemdBoot := r.Loader != nil; systemdBoot != (name == "systemd-boot") {
				t.Errorf("systemd-boot configuration read: %v", systemdBoot)
			}
		})
	}
}

// newFATImage makes an empty FAT volume of size bytes in a file of its
// own, closed when the test ends.
func newFATImage(t *testing.T, size int64) (string, *os.File, *fat32.FileSystem) {
	t.Helper()
	img := filepath.Join(t.TempDir(), "esp.img")
	f, err := os.Create(img)
	must(t, err)
	t.Cleanup(func() { f.Close() })
	must(t, f.Truncate(size))
	fs, err := fat32.Create(file.New(f, false), size, 0, SectorSize, espLabel, true)
	must(t, err)
	return img, f, fs
}
