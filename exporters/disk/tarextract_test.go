package disk

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type tarEntry struct {
	name, link, body string
	typ              byte
}

// writeTar writes entries owned by the current user, so extraction works
// without root.
func writeTar(t *testing.T, gz bool, entries ...tarEntry) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "in.tar")
	f, err := os.Create(p)
	must(t, err)
	defer f.Close()
	var w io.Writer = f
	if gz {
		z := gzip.NewWriter(f)
		defer z.Close()
		w = z
	}
	tw := tar.NewWriter(w)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: 0o644, Size: int64(len(e.body)),
			Uid: os.Getuid(), Gid: os.Getgid(), ModTime: oldMtime, Format: tar.FormatPAX}
		if e.typ == tar.TypeDir {
			h.Mode = 0o755
		}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		must(t, tw.WriteHeader(h))
		if h.Size > 0 {
			_, err := tw.Write([]byte(e.body))
			must(t, err)
		}
	}
	must(t, tw.Close())
	return p
}

func TestExtractTarGzipAndParents(t *testing.T) {
	dest := t.TempDir()
	p := writeTar(t, true,
		tarEntry{name: "./deep/er/file", body: "x", typ: tar.TypeReg}, // parents missing from the tar
		tarEntry{name: "deep/link", link: "er/file", typ: tar.TypeSymlink},
		tarEntry{name: "deep/hard", link: "./deep/er/file", typ: tar.TypeLink},
	)
	must(t, extractTar(context.Background(), p, dest))
	b, err := os.ReadFile(filepath.Join(dest, "deep/link"))
	if err != nil || string(b) != "x" {
		t.Fatalf("symlinked content %q, %v", b, err)
	}
	a, _ := os.Stat(filepath.Join(dest, "deep/er/file"))
	h, _ := os.Stat(filepath.Join(dest, "deep/hard"))
	if !os.SameFile(a, h) {
		t.Error("hard link is a copy")
	}
	if !a.ModTime().Equal(oldMtime) {
		t.Errorf("mtime %v, want %v", a.ModTime(), oldMtime)
	}
}

func TestExtractTarStaysInside(t *testing.T) {
	outside := t.TempDir()
	for name, tc := range map[string]struct {
		entries []tarEntry
		want    string
	}{
		"dotdot": {[]tarEntry{{name: "../escape", body: "x", typ: tar.TypeReg}}, "'..'"},
		"through symlink": {[]tarEntry{
			{name: "sneaky", link: outside, typ: tar.TypeSymlink},
			{name: "sneaky/escape", body: "x", typ: tar.TypeReg},
		}, "not a directory"},
		"hard link out": {[]tarEntry{{name: "h", link: "../../etc/passwd", typ: tar.TypeLink}}, "'..'"},
	} {
		err := extractTar(context.Background(), writeTar(t, false, tc.entries...), t.TempDir())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error mentioning %s", name, err, tc.want)
		}
		if _, serr := os.Stat(filepath.Join(outside, "escape")); serr == nil {
			t.Fatalf("%s: wrote outside the destination", name)
		}
	}
}

func TestExtractTarCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := extractTar(ctx, writeTar(t, false, tarEntry{name: "f", body: "x", typ: tar.TypeReg}), t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "canceled") {
		t.Errorf("cancelled extraction: %v", err)
	}
}

// failingReader passes n bytes of r on, then fails, as a stream cut off
// by a failed or cancelled build does.
type failingReader struct {
	r io.Reader
	n int
}

var errStreamCut = errors.New("stream cut")

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errStreamCut
	}
	n, err := f.r.Read(p[:min(len(p), f.n)])
	f.n -= n
	return n, err
}

// TestExtractTarCutMidFile: a stream that fails inside a file's contents
// leaves no file under its name and no temporary file, and the file an
// earlier run put there stays as it was; the files completed before it
// are in place whole, and a long name extracts as well.
func TestExtractTarCutMidFile(t *testing.T) {
	long := strings.Repeat("l", 255)
	body := strings.Repeat("disk", 1<<20) // 4 MiB, several of the extractor's buffers
	p := writeTar(t, false,
		tarEntry{name: long, body: "complete", typ: tar.TypeReg},
		tarEntry{name: "disk.raw", body: body, typ: tar.TypeReg},
	)
	raw, err := os.ReadFile(p)
	must(t, err)
	dest := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dest, "disk.raw"), []byte("earlier run"), 0o644))

	cut := &failingReader{r: bytes.NewReader(raw), n: len(raw) - len(body)/2}
	err = ExtractTar(context.Background(), cut, dest, ExtractOptions{})
	if !errors.Is(err, errStreamCut) {
		t.Fatalf("got %v, want the stream's error", err)
	}
	if cut.n > 0 {
		t.Fatalf("the extraction stopped %d bytes before the cut: the test did not cut mid-file", cut.n)
	}
	entries, err := os.ReadDir(dest)
	must(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if got, want := strings.Join(names, " "), "disk.raw "+long; got != want {
		t.Errorf("%s holds %q, want %q: a temporary file stayed", dest, got, want)
	}
	if b, _ := os.ReadFile(filepath.Join(dest, "disk.raw")); string(b) != "earlier run" {
		t.Errorf("disk.raw holds %d bytes, want the earlier run's file untouched", len(b))
	}
	if b, _ := os.ReadFile(filepath.Join(dest, long)); string(b) != "complete" {
		t.Errorf("the complete file holds %q", b)
	}

	// The whole stream replaces the earlier file.
	must(t, ExtractTar(context.Background(), bytes.NewReader(raw), dest, ExtractOptions{}))
	if b, _ := os.ReadFile(filepath.Join(dest, "disk.raw")); string(b) != body {
		t.Errorf("disk.raw holds %d bytes, want the %d of the stream", len(b), len(body))
	}
}
