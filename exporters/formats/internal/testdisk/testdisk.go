// Package testdisk makes raw disks for the format writers' tests and wraps
// qemu-img, the reference every converted image is checked against.
package testdisk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/fat32"
	"github.com/diskfs/go-diskfs/partition/gpt"

	"github.com/strata-dev/strata/exporters/formats/rawdisk"
	"github.com/strata-dev/strata/exporters/formats/reuse"
)

// Synthetic writes a sparse raw disk of size bytes with the patterns that
// trip format writers up, and returns its path:
//   - random (incompressible) blocks and text-like (compressible) blocks,
//   - runs of written zeros inside data (allocated, yet must become holes),
//   - one non-zero byte at the very start and one at the very end,
//   - holes everywhere else,
//   - and, when size is not a multiple of 64 KiB, a partial last cluster.
//
// The content depends on seed alone.
func Synthetic(t testing.TB, dir string, size int64, seed uint64) string {
	t.Helper()
	path := filepath.Join(dir, fmt.Sprintf("synthetic-%d.raw", seed))
	f := createSparse(t, path, size)
	defer f.Close()
	rng := rand.New(rand.NewPCG(seed, 0x5157))
	put := func(off int64, b []byte) {
		if off < 0 || off+int64(len(b)) > size {
			return
		}
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	const mib = 1 << 20
	put(0, []byte{0xeb})
	put(size-1, []byte{0x55})
	for off := int64(mib); off < size-mib; off += int64(1+rng.IntN(4)) * mib {
		n := 4096 * (1 + rng.IntN(96)) // up to 384 KiB, not cluster-aligned
		at := off + int64(512*rng.IntN(2048))
		switch rng.IntN(4) {
		case 0:
			put(at, randomBytes(rng, n))
		case 1, 2:
			put(at, textBytes(rng, n))
		default:
			put(at, make([]byte, n)) // allocated zeros
			put(at+int64(n), textBytes(rng, 777))
		}
	}
	// Data right up to the end, so a partial last cluster holds some.
	put(size-5000, textBytes(rng, 4000))
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	return path
}

func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func textBytes(rng *rand.Rand, n int) []byte {
	words := []string{"kubelet", "containerd", "/usr/lib/x86_64-linux-gnu/", "systemd", "\x7fELF\x02\x01\x01", "0000000000", "strata"}
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[rng.IntN(len(words))])
		b.WriteByte(" \n\x00"[rng.IntN(3)])
	}
	return b.Bytes()[:n]
}

// GPTDisk writes a real partitioned disk: a GPT with a FAT32 EFI System
// Partition holding a few files (one of them incompressible), made with
// go-diskfs as the disk assembler does.
func GPTDisk(t testing.TB, dir string) string {
	t.Helper()
	const size, start, partSize = 48 << 20, 1 << 20, 40 << 20
	path := filepath.Join(dir, "gpt.raw")
	f := createSparse(t, path, size)
	defer f.Close()
	table := &gpt.Table{
		LogicalSectorSize: 512, PhysicalSectorSize: 512, ProtectiveMBR: true,
		GUID: "8A6A3C5E-2B1D-4C7E-9F10-0123456789AB",
		Partitions: []*gpt.Partition{{
			Index: 1, Start: start / 512, End: (start+partSize)/512 - 1,
			Type: gpt.EFISystemPartition, Name: "ESP", GUID: "1B2C3D4E-5F60-4718-8293-A4B5C6D7E8F9",
		}},
	}
	w, err := file.New(f, false).Writable()
	if err != nil {
		t.Fatal(err)
	}
	if err := table.Write(w, size); err != nil {
		t.Fatal(err)
	}
	fs, err := fat32.Create(file.New(f, false), partSize, start, 512, "ESP", true)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	files := map[string][]byte{
		"/EFI/BOOT/BOOTX64.EFI": randomBytes(rng, 3<<20+123),
		"/loader/loader.conf":   []byte("timeout 0\ndefault strata.conf\n"),
		"/strata/notes.txt":     textBytes(rng, 1<<20),
	}
	for p, data := range files {
		if err := fs.Mkdir(filepath.Dir(p)); err != nil {
			t.Fatal(err)
		}
		fh, err := fs.OpenFile(p, os.O_CREATE|os.O_RDWR)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fh.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// NeedQemuImg fails the test when qemu-img is not installed: a check that
// skipped itself would pass without checking. e2e/setup-host.sh installs
// it (qemu-utils), as .ci/run does.
func NeedQemuImg(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Fatal("qemu-img is not installed: install qemu-utils (e2e/setup-host.sh does)")
	}
}

// Info is what `qemu-img info` reports about an image.
type Info struct {
	Format      string `json:"format"`
	VirtualSize int64  `json:"virtual-size"`
	ActualSize  int64  `json:"actual-size"`
	// FormatSpecific carries e.g. a VMDK's create type and a qcow2's
	// compat level.
	FormatSpecific struct {
		Type string `json:"type"`
		Data struct {
			Compat     string `json:"compat"`
			CreateType string `json:"create-type"`
		} `json:"data"`
	} `json:"format-specific"`
}

// QemuInfo runs `qemu-img info --output=json` on path. An empty format
// lets qemu-img probe it; a fixed VHD must be named ("vpc"), since its only
// metadata is a footer and qemu probes the start of a file.
func QemuInfo(t testing.TB, path, format string) Info {
	t.Helper()
	args := []string{"info", "--output=json"}
	if format != "" {
		args = append(args, "-f", format)
	}
	out := run(t, "qemu-img", append(args, path)...)
	var info Info
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatalf("qemu-img info: %v\n%s", err, out)
	}
	return info
}

// QemuCheck runs `qemu-img check` and fails the test unless the image is
// clean: no errors, no leaked clusters, no corruptions.
func QemuCheck(t testing.TB, path, format string) {
	t.Helper()
	cmd := exec.Command("qemu-img", "check", "-f", format, path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("qemu-img check -f %s %s: %v\n%s", format, path, err, out)
	}
	if !strings.Contains(string(out), "No errors were found") {
		t.Fatalf("qemu-img check -f %s %s is not clean:\n%s", format, path, out)
	}
}

// QemuCompare fails the test unless qemu-img finds the two images'
// contents identical (a longer image must be zeros past the shorter one).
func QemuCompare(t testing.TB, raw, image, format string) {
	t.Helper()
	cmd := exec.Command("qemu-img", "compare", "-f", "raw", "-F", format, raw, image)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && exit.ExitCode() == 1:
		t.Fatalf("qemu-img compare: %s differs from %s:\n%s", image, raw, out)
	default:
		t.Fatalf("qemu-img compare %s %s: %v\n%s", raw, image, err, out)
	}
}

func run(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// Convert runs a format's writer on the raw disk at rawPath into a new file
// called name in a temporary directory, checks that the size the writer
// reports is the file's, and returns the file's path.
func Convert(t testing.TB, rawPath, name string, write func(context.Context, *os.File, *rawdisk.Disk) (int64, error)) string {
	t.Helper()
	src, err := rawdisk.Open(rawPath)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	out := filepath.Join(t.TempDir(), name)
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n, err := write(context.Background(), f, src)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := f.Stat(); st.Size() != n {
		t.Fatalf("file is %d bytes, the writer reported %d", st.Size(), n)
	}
	return out
}

// createSparse creates the file at path as a hole of size bytes.
func createSparse(t testing.TB, path string, size int64) *os.File {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		t.Fatal(err)
	}
	return f
}

// Related writes a Synthetic disk of size bytes and one Derived from it
// with 1 MiB of new files and 8 rewritten blocks, most of whose clusters
// equal the base's, and returns their paths.
func Related(t testing.TB, size int64) (base, derived string) {
	t.Helper()
	dir := t.TempDir()
	base = Synthetic(t, dir, size, 1)
	return base, Derived(t, dir, base, Change{Seed: 7, Added: 1 << 20, Rewrites: 8})
}

// CheckReused fails the test unless the conversion with reuse (got) is the
// one without (fresh), byte for byte, and s shows the reuse image used for
// most clusters, as it should be for a Related pair.
func CheckReused(t testing.TB, fresh, got string, s reuse.Stats) {
	t.Helper()
	SameFile(t, fresh, got)
	if s.Ignored != "" || s.Mismatched != 0 {
		t.Fatalf("reuse image not used: %+v", s)
	}
	if s.Reused < 2*s.Compressed {
		t.Errorf("reused %d clusters, compressed %d: expected most reused", s.Reused, s.Compressed)
	}
	t.Logf("%+v", s)
}

// Change says how Derived changes a disk.
type Change struct {
	Seed uint64
	// Added is how many bytes of new files go where the disk had holes,
	// in runs of up to 1 MiB.
	Added int64
	// Rewrites is how many 4 KiB blocks inside the disk's data are
	// rewritten, as metadata is when files are added.
	Rewrites int
	// Data, when set, is what new and rewritten bytes are cut from
	// (default: text-like and random bytes).
	Data []byte
}

// bytes returns n bytes of new content.
func (c Change) bytes(rng *rand.Rand, n int) []byte {
	switch {
	case len(c.Data) >= n:
		at := rng.IntN(len(c.Data) - n + 1)
		return c.Data[at : at+n]
	case rng.IntN(4) == 0:
		return randomBytes(rng, n)
	}
	return textBytes(rng, n)
}

// Derived copies the raw disk at base to a new file in dir and changes it
// the way adding files to its filesystem would: new data in holes, a few
// rewritten blocks in the data. Every other byte stays where it was, so most
// 64 KiB clusters equal the base's. The changes depend on c alone.
func Derived(t testing.TB, dir, base string, c Change) string {
	t.Helper()
	path := filepath.Join(dir, fmt.Sprintf("derived-%d-%s", c.Seed, filepath.Base(base)))
	f := copySparse(t, base, path)
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	size := st.Size()
	rng := rand.New(rand.NewPCG(c.Seed, 0xd15c))
	put := func(off int64, b []byte) {
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	used := usedClusters(t, base)
	for range c.Rewrites {
		if at := used[rng.IntN(len(used))] + int64(4096*rng.IntN(16)); at+4096 <= size {
			put(at, c.bytes(rng, 4096))
		}
	}
	for added, tries := int64(0), 0; added < c.Added && tries < 100000; tries++ {
		n := min(int64(4096*(1+rng.IntN(256))), c.Added-added)
		at := int64(4096 * rng.Int64N(max(1, (size-n)/4096)))
		if !isZero(t, f, at, n) {
			continue
		}
		put(at, c.bytes(rng, int(n)))
		added += n
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	return path
}

// copySparse copies the raw disk src to dst, leaving its holes holes, and
// returns dst open for writing.
func copySparse(t testing.TB, src, dst string) *os.File {
	t.Helper()
	d, err := rawdisk.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.CopySparse(context.Background(), f); err != nil {
		f.Close()
		t.Fatal(err)
	}
	return f
}

// usedClusters lists the offsets of the 64 KiB clusters of the raw disk at
// path that hold data.
func usedClusters(t testing.TB, path string) []int64 {
	t.Helper()
	d, err := rawdisk.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	extents, err := d.Map(context.Background(), 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for _, e := range extents {
		for off := e.Off; off < e.End(); off += 64 << 10 {
			out = append(out, off)
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s holds no data", path)
	}
	return out
}

func isZero(t testing.TB, f *os.File, off, n int64) bool {
	t.Helper()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(b, make([]byte, n))
}

// OpenBase opens a raw disk and an image of it as a reuse base; they are
// closed when the test ends.
func OpenBase(t testing.TB, raw, image string) *reuse.Base {
	t.Helper()
	d, err := rawdisk.Open(raw)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	f, err := os.Open(image)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return &reuse.Base{Raw: d, Image: f, ImageSize: st.Size()}
}

// SameFile fails the test unless the files at a and b hold the same bytes.
func SameFile(t testing.TB, a, b string) {
	t.Helper()
	da, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(da, db) {
		i := 0
		for i < min(len(da), len(db)) && da[i] == db[i] {
			i++
		}
		t.Fatalf("%s (%d bytes) and %s (%d bytes) differ from byte %d", a, len(da), b, len(db), i)
	}
}

// MkdirAll makes a directory and its parents.
func MkdirAll(t testing.TB, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

// Filled writes a sparse raw disk of size bytes at dir/name holding data:
// written in 4 MiB runs with a 1 MiB hole after each, from 1 MiB on, as far
// as the disk has room.
func Filled(t testing.TB, dir, name string, size int64, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	f := createSparse(t, path, size)
	defer f.Close()
	const mib = 1 << 20
	for off := int64(mib); len(data) > 0 && off+4*mib <= size; off += 5 * mib {
		run := data[:min(len(data), 4*mib)]
		data = data[len(run):]
		if _, err := f.WriteAt(run, off); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// TreeBytes returns the contents of the regular files under root, in walk
// order, until there are n bytes: real data, binaries and text and some
// already compressed, for benchmarks. It fails the test if root holds less.
func TreeBytes(t testing.TB, root string, n int) []byte {
	t.Helper()
	out := make([]byte, 0, n)
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || len(out) >= n {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out = append(out, b[:min(len(b), n-len(out))]...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < n {
		t.Fatalf("%s holds %d bytes, want %d", root, len(out), n)
	}
	return out
}
