package disk

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/fat32"
)

// TestBuildESPGeometries builds ESPs across go-diskfs' cluster-size switch
// (512 B clusters up to 260 MiB, 4 KiB above) and checks each with
// fsck.fat, which is where its FAT-sizing and ".." quirks showed up.
func TestBuildESPGeometries(t *testing.T) {
	if _, err := exec.LookPath("fsck.vfat"); err != nil {
		t.Fatal("fsck.vfat is not installed: install dosfstools (e2e/setup-host.sh does)")
	}
	dir := t.TempDir()
	big := bytes.Repeat([]byte("0123456789abcdef"), 3<<16) // 3 MiB, spans many clusters
	src := filepath.Join(dir, "big")
	must(t, os.WriteFile(src, big, 0o644))
	for _, size := range []int64{64, 100, 256, 261, 300, 1024} {
		t.Run(fmt.Sprintf("%dMiB", size), func(t *testing.T) {
			img := filepath.Join(dir, fmt.Sprintf("esp-%d.img", size))
			files := []espFile{
				{Path: "/EFI/BOOT/BOOTX64.EFI", Source: src},
				{Path: "/a/b/c/deep.conf", Data: []byte("deep\n")},
				{Path: "/a/long-file-name-with-lowercase.txt", Data: []byte("lfn\n")},
			}
			must(t, buildESP(img, size<<20, 0x1234abcd, fixtureEpoch, files))
			run(t, "fsck.vfat", "-n", img)
			if out := run(t, "blkid", "-p", "-o", "export", img); !strings.Contains(out, "UUID=1234-ABCD\n") {
				t.Errorf("blkid: %s", out)
			}

			f, err := os.Open(img)
			must(t, err)
			defer f.Close()
			fs, err := fat32.Read(file.New(f, true), size<<20, 0, SectorSize)
			must(t, err)
			got, err := fs.ReadFile("/EFI/BOOT/BOOTX64.EFI")
			if err != nil || !bytes.Equal(got, big) {
				t.Errorf("BOOTX64.EFI round trip: %d bytes, %v", len(got), err)
			}
			if got, _ := fs.ReadFile("/a/long-file-name-with-lowercase.txt"); string(got) != "lfn\n" {
				t.Errorf("long name content %q", got)
			}
			info, err := fs.Stat("a/b/c/deep.conf") // Stat wants io/fs paths, unlike ReadFile
			if err != nil || !info.ModTime().Equal(fixtureEpoch) {
				t.Errorf("deep.conf mtime %v (%v), want %v", info, err, fixtureEpoch)
			}
		})
	}
}

func TestCheckESPFits(t *testing.T) {
	err := checkESPFits(64<<20, []espFile{{Path: "/k", Data: make([]byte, 70<<20)}})
	if err == nil || !strings.Contains(err.Error(), "raise the ESP size") {
		t.Errorf("70 MiB into a 64 MiB ESP: %v", err)
	}
	if err := checkESPFits(64<<20, []espFile{{Path: "/k", Data: make([]byte, 40<<20)}}); err != nil {
		t.Errorf("40 MiB into a 64 MiB ESP: %v", err)
	}
}
