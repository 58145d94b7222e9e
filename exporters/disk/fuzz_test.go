package disk

import (
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diskfs/go-diskfs/backend/file"
)

// FuzzInspect feeds Inspect raw disks (see decodeImage), with the primary
// GPT's checksums made to match so that mutated tables get read. What it
// reports must lie inside the disk: partitions within its size, loader
// entries among the ESP's files.
func FuzzInspect(f *testing.F) {
	disk := seedDisk(f, f.TempDir())
	f.Add(encodeImage(disk))
	// Without the primary GPT, Inspect reads the backup.
	noPrimary := append([]byte(nil), disk...)
	clear(noPrimary[SectorSize : 2*SectorSize])
	f.Add(encodeImage(noPrimary))
	f.Fuzz(func(t *testing.T, data []byte) {
		img := decodeImage(data)
		p := filepath.Join(t.TempDir(), "disk.raw")
		fd := img.writeFile(t, p)
		fixGPTChecksums(t, fd, img.size)
		must(t, fd.Close())
		r, err := Inspect(p)
		if err != nil {
			return
		}
		if r.Format == "raw" && r.Size != img.size {
			t.Errorf("a %d-byte raw disk reported as %d bytes", img.size, r.Size)
		}
		last := 0
		for _, pr := range r.Partitions {
			if pr.Start < 0 || pr.End <= pr.Start || pr.End > r.Size {
				t.Errorf("partition %d spans bytes %d-%d of a %d-byte disk", pr.Number, pr.Start, pr.End, r.Size)
			}
			if pr.Number <= last {
				t.Errorf("partition %d listed after %d", pr.Number, last)
			}
			last = pr.Number
		}
		checkESPReport(t, r)
		if _, err := json.Marshal(r); err != nil {
			t.Errorf("the report does not encode (strata inspect --json): %v", err)
		}
	})
}

// FuzzInspectESP feeds the ESP reader (go-diskfs' FAT32 and the loader
// configuration parser) FAT volumes: every file it lists must have a
// clean absolute path, and every loader entry must be one of them.
func FuzzInspectESP(f *testing.F) {
	esp := seedESP(f, f.TempDir())
	f.Add(encodeImage(esp))
	f.Fuzz(func(t *testing.T, data []byte) {
		img := decodeImage(data)
		fd := img.writeFile(t, filepath.Join(t.TempDir(), "esp.img"))
		defer fd.Close()
		if fs := probeFilesystem(fd, 0); fs != nil && fs.BlockSize <= 0 {
			t.Errorf("%s with %d-byte blocks", fs.Type, fs.BlockSize)
		}
		r := &Report{}
		if err := inspectESP(r, file.New(fd, true), PartitionReport{Start: 0, End: img.size}); err != nil {
			return
		}
		checkESPReport(t, r)
	})
}

func checkESPReport(t *testing.T, r *Report) {
	t.Helper()
	listed := map[string]bool{}
	for _, f := range r.ESPFiles {
		if !strings.HasPrefix(f.Path, "/") || path.Clean(f.Path) != f.Path {
			t.Errorf("ESP file %q: not a clean absolute path", f.Path)
		}
		if f.Size < 0 {
			t.Errorf("ESP file %q of %d bytes", f.Path, f.Size)
		}
		listed[f.Path] = true
	}
	if r.Loader == nil {
		return
	}
	for _, e := range r.Loader.Entries {
		if !listed[e.File] {
			t.Errorf("loader entry %q is not among the ESP's files", e.File)
		}
	}
}

// FuzzExt4 feeds the ext4 readers: the superblock (Inspect's probe) and
// the extent walk that tells AddLayer which blocks hold file data. A
// superblock read must be one the kernel could mount, and the blocks
// listed must be in order, apart and inside the filesystem.
func FuzzExt4(f *testing.F) {
	if fs := seedExt4(f, f.TempDir()); fs != nil {
		f.Add(encodeImage(fs))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		img := decodeImage(data)
		sb, err := readExt4Superblock(img, 0)
		if err != nil {
			return
		}
		if bs := sb.BlockSize; bs < 1024 || bs > 64<<10 || bs&(bs-1) != 0 {
			t.Fatalf("block size %d", bs)
		}
		if sb.InodeSize > sb.BlockSize || sb.DescSize > sb.BlockSize {
			t.Fatalf("%d-byte inodes, %d-byte descriptors in %d-byte blocks", sb.InodeSize, sb.DescSize, sb.BlockSize)
		}
		ranges, _, err := fileDataBlocks(img, 0)
		if err != nil {
			return
		}
		var end uint64
		for i, r := range ranges {
			if r.Count == 0 || r.Start+r.Count > sb.BlocksCount || r.Start+r.Count < r.Start {
				t.Errorf("blocks %d+%d of a %d-block filesystem", r.Start, r.Count, sb.BlocksCount)
			}
			if i > 0 && r.Start <= end {
				t.Errorf("blocks %d+%d overlap or touch the run before, which ends at %d", r.Start, r.Count, end)
			}
			end = r.Start + r.Count
		}
	})
}

// FuzzExtractTar feeds ExtractTar tar streams, into dest beside a
// directory "outside" holding a bait file. Nothing may land outside dest
// or change the bait, through ".." or symlinks; and an extraction that
// succeeds must leave exactly the tree the tar describes (see tarModel).
func FuzzExtractTar(f *testing.F) {
	for _, seed := range tarSeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !extractable(data) {
			return
		}
		parent := t.TempDir()
		dest := filepath.Join(parent, "dest")
		bait := plantBait(t, parent)
		defer makeRemovable(dest)
		err := ExtractTar(t.Context(), strings.NewReader(string(data)), dest, ExtractOptions{})
		checkBait(t, parent, bait)
		if err != nil {
			return
		}
		want, ok := tarModel(data)
		if !ok {
			t.Fatal("ExtractTar succeeded on a tar the model finds invalid")
		}
		checkTree(t, dest, want)
	})
}

// makeRemovable gives back write and search permission on every
// directory under root, which a tar may have taken away, so that the
// test's cleanup can remove them without root.
func makeRemovable(root string) {
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if d != nil && d.IsDir() {
			os.Chmod(p, 0o700)
		}
		return nil
	})
}
