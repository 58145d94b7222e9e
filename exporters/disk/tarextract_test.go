package disk

import (
	"archive/tar"
	"compress/gzip"
	"context"
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
