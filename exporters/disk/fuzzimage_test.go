package disk

import (
	"encoding/binary"
	"hash/crc32"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/fat32"
)

// The disk readers' fuzz inputs are sparse images, so that the fuzzer
// mutates the few bytes that say something rather than megabytes of
// zeros, and a seed disk fits in a corpus file: a little-endian uint32
// size in sectors, then chunks, each a uint32 byte offset, a uint16 length
// and that many bytes. Later chunks win; what lies past the size is cut.
const maxFuzzImage = 16 << 20

type fuzzImage struct {
	size   int64
	chunks []fuzzChunk
}

type fuzzChunk struct {
	off  int64
	data []byte
}

func decodeImage(in []byte) fuzzImage {
	var img fuzzImage
	if len(in) < 4 {
		return img
	}
	img.size = min(int64(binary.LittleEndian.Uint32(in))*SectorSize, maxFuzzImage)
	for in = in[4:]; len(in) >= 6; {
		off, n := int64(binary.LittleEndian.Uint32(in)), int(binary.LittleEndian.Uint16(in[4:]))
		in = in[6:]
		data := in[:min(n, len(in))]
		in = in[len(data):]
		if off < img.size {
			img.chunks = append(img.chunks, fuzzChunk{off, data[:min(int64(len(data)), img.size-off)]})
		}
	}
	return img
}

// encodeImage writes b, whose length is a whole number of sectors, as a
// fuzz input: its runs of bytes that are not zero, joined across short
// gaps, a chunk costing 6 bytes.
func encodeImage(b []byte) []byte {
	out := binary.LittleEndian.AppendUint32(nil, uint32(len(b)/SectorSize))
	for i := 0; i < len(b); {
		if b[i] == 0 {
			i++
			continue
		}
		end, zeros := i, 0
		for j := i; j < len(b) && j-i < 0xffff && zeros < 8; j++ {
			if b[j] == 0 {
				zeros++
			} else {
				end, zeros = j+1, 0
			}
		}
		out = binary.LittleEndian.AppendUint32(out, uint32(i))
		out = binary.LittleEndian.AppendUint16(out, uint16(end-i))
		out = append(out, b[i:end]...)
		i = end
	}
	return out
}

// ReadAt reads the image as the disk it stands for.
func (img fuzzImage) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= img.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), img.size-off))
	clear(p[:n])
	for _, c := range img.chunks {
		if lo, hi := max(c.off, off), min(c.off+int64(len(c.data)), off+int64(n)); lo < hi {
			copy(p[lo-off:hi-off], c.data[lo-c.off:hi-c.off])
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// writeFile writes the image to a new sparse file, open for the caller
// to close.
func (img fuzzImage) writeFile(t *testing.T, p string) *os.File {
	t.Helper()
	f, err := os.Create(p)
	must(t, err)
	must(t, f.Truncate(img.size))
	for _, c := range img.chunks {
		_, err := f.WriteAt(c.data, c.off)
		must(t, err)
	}
	return f
}

// fixGPTChecksums recomputes the checksums of the primary GPT in f, which
// would otherwise reject nearly every mutation of the table before
// go-diskfs reads an entry. A header without its signature is left alone,
// and so is an entry array that does not fit in the image.
func fixGPTChecksums(t *testing.T, f *os.File, size int64) {
	t.Helper()
	hdr := make([]byte, 92)
	if _, err := f.ReadAt(hdr, SectorSize); err != nil || string(hdr[:8]) != "EFI PART" {
		return
	}
	le := binary.LittleEndian
	start := le.Uint64(hdr[72:]) * SectorSize
	n := uint64(le.Uint32(hdr[80:])) * uint64(le.Uint32(hdr[84:]))
	if start/SectorSize == le.Uint64(hdr[72:]) && start < uint64(size) && n <= uint64(size)-start {
		entries := make([]byte, n)
		_, err := f.ReadAt(entries, int64(start))
		must(t, err)
		le.PutUint32(hdr[88:], crc32.ChecksumIEEE(entries))
	}
	le.PutUint32(hdr[16:], 0)
	le.PutUint32(hdr[16:], crc32.ChecksumIEEE(hdr))
	_, err := f.WriteAt(hdr, SectorSize)
	must(t, err)
}

// seedESP is a 128 KiB FAT32 ESP with a loader configuration, one entry
// and its kernel and initrd. go-diskfs formats volumes that small, so the
// fuzzer need not wade through 64 MiB; buildESP's room check is for real
// boot files, so it is left out.
func seedESP(t testing.TB, dir string) []byte {
	const size = 128 << 10
	entry := newLoaderEntry("Linux", "6.1.0", "11111111-2222-4333-8444-555555555555", "console=ttyS0")
	f, err := os.Create(filepath.Join(dir, "esp.img"))
	must(t, err)
	defer f.Close()
	must(t, f.Truncate(size))
	fs, err := fat32.Create(file.New(f, false), size, 0, SectorSize, espLabel, true)
	must(t, err)
	for _, ef := range []espFile{
		{Path: espFallbackEFI, Data: []byte(fakeSDBoot)},
		{Path: entry.Linux, Data: []byte(fakeKernel)},
		{Path: entry.Initrd, Data: []byte(fakeInitrd)},
		{Path: espLoaderConf, Data: []byte(loaderConf(entry))},
		{Path: entry.Path(), Data: []byte(entry.Conf())},
	} {
		must(t, writeESPFile(fs, ef))
	}
	must(t, finalizeFAT32(f, 0x1234abcd, fixtureEpoch))
	b, err := os.ReadFile(f.Name())
	must(t, err)
	return b
}

// seedExt4 is a 512 KiB ext4 with a few files, made by mke2fs -d with
// fixed identifiers and time, or nil when mke2fs is missing.
func seedExt4(t testing.TB, dir string) []byte {
	if _, err := exec.LookPath("mke2fs"); err != nil {
		return nil
	}
	dir, err := os.MkdirTemp(dir, "ext4-")
	must(t, err)
	tree := filepath.Join(dir, "tree")
	must(t, os.MkdirAll(filepath.Join(tree, "dir"), 0o755))
	must(t, os.WriteFile(filepath.Join(tree, "small"), []byte("hello\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(tree, "dir", "blocks"), sparseData, 0o644))
	must(t, os.Symlink("small", filepath.Join(tree, "link")))
	p := filepath.Join(dir, "root.img")
	const id = "11111111-2222-4333-8444-555555555555"
	cmd := exec.Command("mke2fs", "-q", "-F", "-t", "ext4", "-b", "1024", "-N", "32",
		"-O", "^has_journal,^resize_inode", "-U", id, "-E", "hash_seed="+id+",root_owner=0:0",
		"-d", tree, p, "512k")
	cmd.Env = append(os.Environ(), "E2FSPROGS_FAKE_TIME=1700000000")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mke2fs: %v\n%s", err, out)
	}
	b, err := os.ReadFile(p)
	must(t, err)
	return b
}

// seedDisk is a 1 MiB GPT disk: the ESP of seedESP and the ext4 of
// seedExt4 (left empty without mke2fs).
func seedDisk(t testing.TB, dir string) []byte {
	const size = 1 << 20
	l := Layout{
		SectorSize: SectorSize, DiskSize: size, DiskGUID: "0c4f1d5e-8a3b-4c2d-9e1f-2a3b4c5d6e7f",
		ESP: Partition{Number: 1, Name: "ESP", TypeGUID: TypeESP, GUID: "1a2b3c4d-0000-4000-8000-000000000001",
			Start: 64 << 10, End: 192 << 10},
		Root: Partition{Number: 2, Name: "root", TypeGUID: TypeRootX86_64, GUID: "11111111-2222-4333-8444-555555555555",
			Start: 192 << 10, End: 704 << 10},
	}
	p := filepath.Join(dir, "disk.raw")
	f, err := os.Create(p)
	must(t, err)
	defer f.Close()
	must(t, f.Truncate(size))
	must(t, writeGPT(f, l))
	_, err = f.WriteAt(seedESP(t, dir), l.ESP.Start)
	must(t, err)
	_, err = f.WriteAt(seedExt4(t, dir), l.Root.Start)
	must(t, err)
	b, err := os.ReadFile(p)
	must(t, err)
	return b
}
