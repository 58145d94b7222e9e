package gce

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-dev/strata/exporters/formats/internal/testdisk"
	"github.com/strata-dev/strata/exporters/formats/rawdisk"
)

func convert(t *testing.T, rawPath string, o Options) string {
	t.Helper()
	return testdisk.Convert(t, rawPath, "disk.tar.gz", func(ctx context.Context, f *os.File, src *rawdisk.Disk) (int64, error) {
		return Write(ctx, f, src, o)
	})
}

// extractFile unpacks the archive with our reader into a sparse file.
func extractFile(t *testing.T, archive string) (string, Entry) {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := filepath.Join(t.TempDir(), FileName)
	dst, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	e, err := Extract(f, dst)
	if err != nil {
		t.Fatal(err)
	}
	if err := dst.Truncate(e.Size); err != nil {
		t.Fatal(err)
	}
	return out, e
}

func TestArchiveHoldsOneWholeGiBDisk(t *testing.T) {
	dir := t.TempDir()
	for name, raw := range map[string]string{
		"synthetic": testdisk.Synthetic(t, dir, 40<<20+7*512, 1),
		"gpt":       testdisk.GPTDisk(t, dir),
	} {
		t.Run(name, func(t *testing.T) {
			archive := convert(t, raw, Options{Time: time.Unix(1700000000, 0)})
			got, e := extractFile(t, archive)
			if e.Name != FileName || e.Size != 1<<30 || !e.Sparse || e.Format != tar.FormatGNU {
				t.Errorf("entry %+v, want a 1 GiB GNU sparse disk.raw", e)
			}
			sameContent(t, raw, got)
			checkOldGNUHeader(t, archive)
			gnuTarAgrees(t, archive, raw)
		})
	}
}

// sameContent compares the source with the extracted disk: equal up to
// the source's size, zeros (and holes) after.
func sameContent(t *testing.T, raw, got string) {
	t.Helper()
	want, _ := os.ReadFile(raw)
	f, err := os.Open(got)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	head := make([]byte, len(want))
	if _, err := io.ReadFull(f, head); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(head, want) {
		t.Fatal("extracted disk differs from the source")
	}
	d, _ := rawdisk.Open(got)
	defer d.Close()
	m, err := d.Map(context.Background(), 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(m); n > 0 && m[n-1].End() > int64(len(want)+64<<10) {
		t.Errorf("data past the source's end: %+v", m[n-1])
	}
}

// checkOldGNUHeader looks at the raw tar header: old GNU magic, sparse type.
func checkOldGNUHeader(t *testing.T, archive string) {
	t.Helper()
	f, _ := os.Open(archive)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	h := make([]byte, 512)
	if _, err := io.ReadFull(zr, h); err != nil {
		t.Fatal(err)
	}
	if string(h[257:265]) != "ustar  \x00" || h[156] != 'S' || string(h[:9]) != "disk.raw\x00" {
		t.Errorf("header magic %q type %q name %q: not an old GNU sparse disk.raw", h[257:265], h[156], h[:9])
	}
}

// gnuTarAgrees lists and extracts the archive with GNU tar, the tool GCE's
// documentation builds these archives with.
func gnuTarAgrees(t *testing.T, archive, raw string) {
	t.Helper()
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("tar not installed")
	}
	list, err := exec.Command("tar", "-tvzf", archive).CombinedOutput()
	if err != nil {
		t.Fatalf("tar -t: %v\n%s", err, list)
	}
	lines := strings.Split(strings.TrimSpace(string(list)), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], " 1073741824 ") || !strings.HasSuffix(lines[0], " disk.raw") {
		t.Errorf("GNU tar lists:\n%s", list)
	}
	dir := t.TempDir()
	if out, err := exec.Command("tar", "-xSzf", archive, "-C", dir).CombinedOutput(); err != nil {
		t.Fatalf("tar -x: %v\n%s", err, out)
	}
	sameContent(t, raw, filepath.Join(dir, FileName))
}

func TestDeterministicAndCompressed(t *testing.T) {
	raw := testdisk.Synthetic(t, t.TempDir(), 20<<20, 2)
	a, _ := os.ReadFile(convert(t, raw, Options{Workers: 1}))
	b, _ := os.ReadFile(convert(t, raw, Options{Workers: 3}))
	if !bytes.Equal(a, b) {
		t.Error("output depends on the number of workers")
	}
	d, _ := rawdisk.Open(raw)
	defer d.Close()
	m, _ := d.Map(context.Background(), 64<<10)
	var data int64
	for _, e := range m {
		data += e.Len
	}
	if int64(len(a)) >= data {
		t.Errorf("archive of %d bytes for %d bytes of data", len(a), data)
	}
}

// TestLargeDisk needs base-256 numbers: offsets and sizes past 8 GiB.
func TestLargeDisk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.raw")
	f, _ := os.Create(path)
	const size = 9<<30 + 4096
	f.Truncate(size)
	f.WriteAt([]byte("start"), 0)
	f.WriteAt([]byte("past eight gibibytes"), 8<<30+12345)
	f.WriteAt([]byte("end"), size-3)
	f.Close()
	archive := convert(t, path, Options{})
	got, e := extractFile(t, archive)
	if e.Size != 10<<30 {
		t.Fatalf("size %d, want 10 GiB", e.Size)
	}
	g, _ := os.Open(got)
	defer g.Close()
	for off, want := range map[int64]string{0: "start", 8<<30 + 12345: "past eight gibibytes", size - 3: "end", size: "\x00\x00"} {
		b := make([]byte, len(want))
		g.ReadAt(b, off)
		if string(b) != want {
			t.Errorf("at %d: %q, want %q", off, b, want)
		}
	}
	if _, err := exec.LookPath("tar"); err == nil {
		list, err := exec.Command("tar", "-tvzf", archive).CombinedOutput()
		if err != nil || !strings.Contains(string(list), " 10737418240 ") {
			t.Errorf("GNU tar: %v\n%s", err, list)
		}
	}
}

func TestExtractRejects(t *testing.T) {
	// archive makes a gzip'd tar: optionally an empty 1 GiB sparse
	// disk.raw first (our own header), then regular files.
	archive := func(disk bool, files ...[2]any) []byte {
		var tarball bytes.Buffer
		if disk {
			tarball.Write(sparseHeaders(nil, 1<<30, time.Time{}))
		}
		tw := tar.NewWriter(&tarball)
		for _, f := range files {
			tw.WriteHeader(&tar.Header{Name: f[0].(string), Size: f[1].(int64), Mode: 0o644, Typeflag: tar.TypeReg})
			tw.Write(make([]byte, f[1].(int64)))
		}
		tw.Close()
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(tarball.Bytes())
		zw.Close()
		return buf.Bytes()
	}
	cases := map[string]struct {
		data []byte
		want string
	}{
		"empty":      {archive(false), "empty"},
		"wrong name": {archive(false, [2]any{"disk.img", int64(4096)}), `"disk.img"`},
		"not GiB":    {archive(false, [2]any{"disk.raw", int64(4096)}), "whole number of GiB"},
		"two files":  {archive(true, [2]any{"extra", int64(1)}), `"extra"`},
		"not gzip":   {[]byte("plain text"), "gzip"},
	}
	if _, err := Extract(bytes.NewReader(archive(true)), discardAt{}); err != nil {
		t.Fatalf("the valid archive the cases start from: %v", err)
	}
	for name, c := range cases {
		_, err := Extract(bytes.NewReader(c.data), discardAt{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %s", name, err, c.want)
		}
	}
}

func TestPutNumber(t *testing.T) {
	b := make([]byte, 12)
	putNumber(b, 1<<30)
	if string(b) != "10000000000\x00" {
		t.Errorf("octal: %q", b)
	}
	putNumber(b, 10<<30)
	if b[0] != 0x80 || !bytes.Equal(b[7:], []byte{0x02, 0x80, 0, 0, 0}) {
		t.Errorf("base-256: % x", b)
	}
}

type discardAt struct{}

func (discardAt) WriteAt(p []byte, _ int64) (int, error) { return len(p), nil }
