package disk

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// baitTime is the bait's mtime, which no entry of a tar may move.
var baitTime = time.Date(1999, 9, 9, 9, 9, 9, 0, time.UTC)

// tarSeeds are small tars for FuzzExtractTar: every entry type it
// extracts, and the ways out of dest that it must refuse.
func tarSeeds(t testing.TB) [][]byte {
	type e struct {
		name, link, body string
		typ              byte
		mode             int64
		pax              map[string]string
		mtime            time.Time
	}
	build := func(entries ...e) []byte {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		for _, x := range entries {
			h := &tar.Header{Name: x.name, Linkname: x.link, Typeflag: x.typ, Mode: x.mode, Size: int64(len(x.body)),
				ModTime: oldMtime, PAXRecords: x.pax}
			if !x.mtime.IsZero() {
				h.ModTime = x.mtime
			}
			must(t, tw.WriteHeader(h))
			_, err := tw.Write([]byte(x.body))
			must(t, err)
		}
		must(t, tw.Flush())
		// Without the two zero blocks that end it, the tar reads the
		// same and makes a smaller seed.
		return b.Bytes()
	}
	return [][]byte{
		build(
			e{name: "./", typ: tar.TypeDir, mode: 0o755},
			e{name: "etc/", typ: tar.TypeDir, mode: 0o755},
			e{name: "etc/hostname", body: "node\n", typ: tar.TypeReg, mode: 0o644},
			e{name: "usr/bin/ping", body: "ping", typ: tar.TypeReg, mode: 0o4755,
				pax: map[string]string{paxXattrPrefix + "user.note": "x"}},
			e{name: "etc/link", link: "hostname", typ: tar.TypeSymlink},
			e{name: "etc/hard", link: "etc/hostname", typ: tar.TypeLink},
			e{name: "run/fifo", typ: tar.TypeFifo, mode: 0o600},
		),
		build(
			e{name: "a", link: "../outside", typ: tar.TypeSymlink},
			e{name: "a/bait", body: "gotcha", typ: tar.TypeReg, mode: 0o644},
		),
		build(
			e{name: "d/", typ: tar.TypeDir, mode: 0o755},
			e{name: "d/sub/", typ: tar.TypeDir, mode: 0o700},
			e{name: "d", link: "../outside", typ: tar.TypeSymlink},
		),
		// Directory times are set last, by path, when d/bait leads
		// outside.
		build(
			e{name: "d/", typ: tar.TypeDir, mode: 0o755},
			e{name: "d/bait/", typ: tar.TypeDir, mode: 0o700},
			e{name: "d", link: "../outside", typ: tar.TypeSymlink},
		),
		build(e{name: "../outside/bait", body: "gotcha", typ: tar.TypeReg, mode: 0o644}),
		// The last entry for a directory sets its times.
		build(
			e{name: "d/", typ: tar.TypeDir, mode: 0o755},
			e{name: "d/f", typ: tar.TypeReg, mode: 0o644},
			e{name: "d/", typ: tar.TypeDir, mode: 0o700, mtime: fixtureEpoch},
		),
		build(
			e{name: "x", link: "../outside/bait", typ: tar.TypeSymlink},
			e{name: "h", link: "x/../../outside/bait", typ: tar.TypeLink},
			e{name: "x", body: "replaced", typ: tar.TypeReg, mode: 0o600},
		),
	}
}

// extractable leaves out tars this test cannot run safely or quickly:
// device nodes (as root they would be made for real), and entries over a
// MiB (a sparse entry can claim a terabyte, all of it read as zeros).
func extractable(data []byte) bool {
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err != nil {
			return true
		}
		if h.Typeflag == tar.TypeChar || h.Typeflag == tar.TypeBlock || h.Size > 1<<20 {
			return false
		}
	}
}

// plantBait makes parent/outside/bait and returns its state.
func plantBait(t *testing.T, parent string) os.FileInfo {
	bait := filepath.Join(parent, "outside", "bait")
	must(t, os.Mkdir(filepath.Dir(bait), 0o755))
	must(t, os.WriteFile(bait, []byte("bait"), 0o644))
	must(t, os.Chtimes(bait, baitTime, baitTime))
	fi, err := os.Stat(bait)
	must(t, err)
	return fi
}

// checkBait fails unless parent holds dest and outside only, outside
// holds the bait only, and the bait is as planted.
func checkBait(t *testing.T, parent string, was os.FileInfo) {
	t.Helper()
	for dir, want := range map[string]string{parent: "dest outside", filepath.Join(parent, "outside"): "bait"} {
		ents, _ := os.ReadDir(dir)
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		if got := strings.Join(names, " "); got != want && !(dir == parent && got == "outside") {
			t.Errorf("%s holds %q after extraction, want %q", dir, got, want)
		}
	}
	bait := filepath.Join(parent, "outside", "bait")
	fi, err := os.Lstat(bait)
	if err != nil {
		t.Fatalf("the bait outside dest: %v", err)
	}
	b, _ := os.ReadFile(bait)
	if string(b) != "bait" || fi.Mode() != was.Mode() || !fi.ModTime().Equal(baitTime) || !os.SameFile(fi, was) {
		t.Errorf("the bait outside dest changed: %q, mode %v, mtime %v", b, fi.Mode(), fi.ModTime())
	}
	if st, ok := fi.Sys().(interface{ Nlink() uint64 }); ok && st.Nlink() != 1 {
		t.Errorf("the bait outside dest got a hard link")
	}
}

// node is what the model expects at a path. mode is -1 when the
// extractor picks it (a parent directory the tar leaves out).
type node struct {
	typ     byte
	content string
	mode    int64
	mtime   time.Time // zero when the extractor picks it
}

// tarModel replays the tar as tar(1) would extract it into an empty
// directory, a later entry replacing an earlier one, parents made as
// needed. It reports false for a tar that cannot be extracted so.
func tarModel(data []byte) (map[string]node, bool) {
	tree := map[string]node{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return tree, true
		}
		if err != nil || h.Typeflag == tar.TypeXGlobalHeader {
			if err != nil {
				return nil, false
			}
			continue
		}
		rel, ok := cleanEntry(h.Name)
		if !ok || !makeParents(tree, rel) {
			return nil, false
		}
		if rel == "." {
			if h.Typeflag != tar.TypeDir {
				return nil, false
			}
			continue
		}
		old, exists := tree[rel]
		if exists && !(old.typ == tar.TypeDir && h.Typeflag == tar.TypeDir) {
			removeTree(tree, rel)
		}
		n := node{typ: h.Typeflag, mode: h.Mode & 0o7777}
		if y := h.ModTime.Year(); y >= 1970 && y < 2200 {
			n.mtime = h.ModTime // the kernel clamps times far off
		}
		switch h.Typeflag {
		case tar.TypeDir, tar.TypeFifo:
		case tar.TypeReg, tar.TypeGNUSparse:
			b, err := io.ReadAll(tr)
			if err != nil {
				return nil, false
			}
			n.typ, n.content = tar.TypeReg, string(b)
		case tar.TypeSymlink:
			n.content, n.mode = h.Linkname, -1
		case tar.TypeLink:
			lrel, ok := cleanEntry(h.Linkname)
			src, exists := tree[lrel]
			if !ok || !exists || src.typ == tar.TypeDir || lrel == rel {
				return nil, false
			}
			n = src
		default:
			return nil, false
		}
		tree[rel] = n
	}
}

// cleanEntry is an entry name relative to the tree, or false for one
// that climbs out of it.
func cleanEntry(name string) (string, bool) {
	if strings.Contains(name, "\x00") || strings.Contains("/"+name+"/", "/../") {
		return "", false
	}
	if clean := strings.TrimPrefix(path.Clean("/"+name), "/"); clean != "" {
		return clean, true
	}
	return ".", true
}

func makeParents(tree map[string]node, rel string) bool {
	for dir := path.Dir(rel); dir != "."; dir = path.Dir(dir) {
		if n, ok := tree[dir]; ok && n.typ != tar.TypeDir {
			return false
		}
	}
	for dir := path.Dir(rel); dir != "."; dir = path.Dir(dir) {
		if _, ok := tree[dir]; !ok {
			tree[dir] = node{typ: tar.TypeDir, mode: -1}
		}
	}
	return true
}

func removeTree(tree map[string]node, rel string) {
	for p := range tree {
		if p == rel || strings.HasPrefix(p, rel+"/") {
			delete(tree, p)
		}
	}
}

// checkTree fails unless dest holds exactly the tree want.
func checkTree(t *testing.T, dest string, want map[string]node) {
	t.Helper()
	got := map[string]bool{}
	filepath.WalkDir(dest, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dest {
			return nil
		}
		rel, _ := filepath.Rel(dest, p)
		got[rel] = true
		fi, err := os.Lstat(p)
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			return nil
		}
		w, ok := want[rel]
		if !ok {
			t.Errorf("%s (%v) is in no entry of the tar", rel, fi.Mode())
			return nil
		}
		checkNode(t, p, rel, fi, w)
		return nil
	})
	var missing []string
	for rel := range want {
		if !got[rel] {
			missing = append(missing, rel)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("missing after extraction: %q", missing)
	}
}

func checkNode(t *testing.T, p, rel string, fi os.FileInfo, w node) {
	t.Helper()
	types := map[byte]fs.FileMode{tar.TypeDir: fs.ModeDir, tar.TypeReg: 0, tar.TypeSymlink: fs.ModeSymlink, tar.TypeFifo: fs.ModeNamedPipe}
	if fi.Mode().Type() != types[w.typ] {
		t.Errorf("%s is %v, want tar type %q", rel, fi.Mode().Type(), w.typ)
		return
	}
	if w.mode >= 0 && unixPerm(fi.Mode()) != w.mode {
		t.Errorf("%s has mode %o, want %o", rel, unixPerm(fi.Mode()), w.mode)
	}
	if !w.mtime.IsZero() && !fi.ModTime().Equal(w.mtime) {
		t.Errorf("%s has mtime %v, want %v", rel, fi.ModTime(), w.mtime)
	}
	switch w.typ {
	case tar.TypeReg:
		if b, err := os.ReadFile(p); err != nil || string(b) != w.content {
			t.Errorf("%s holds %q (%v), want %q", rel, b, err, w.content)
		}
	case tar.TypeSymlink:
		if target, err := os.Readlink(p); err != nil || target != w.content {
			t.Errorf("%s links to %q (%v), want %q", rel, target, err, w.content)
		}
	}
}

// unixPerm is the permission and setuid/setgid/sticky bits as tar keeps
// them.
func unixPerm(m fs.FileMode) int64 {
	perm := int64(m.Perm())
	for bit, u := range map[fs.FileMode]int64{fs.ModeSetuid: 0o4000, fs.ModeSetgid: 0o2000, fs.ModeSticky: 0o1000} {
		if m&bit != 0 {
			perm |= u
		}
	}
	return perm
}
