package debugfs

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
)

func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed: %v", tool, err)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// makeTree writes a tree with the entries a reader gets wrong: long and
// short symlinks, absolute and relative ones, a link to a directory,
// hard links, a sparse file, odd names, deep directories, foreign owners.
func makeTree(t *testing.T, root string) {
	t.Helper()
	p := func(rel string) string { return filepath.Join(root, rel) }
	for _, d := range []string{"etc/ssh", "usr/lib/systemd/system", "a/b/c/d/e/f", "data", "home/user"} {
		must(t, os.MkdirAll(p(d), 0o755))
	}
	file := func(rel, content string, mode os.FileMode) {
		must(t, os.WriteFile(p(rel), []byte(content), mode))
		must(t, os.Chmod(p(rel), mode))
	}
	file("etc/hostname", "node\n", 0o644)
	file("etc/ssh/ssh_host_ed25519_key", "PRIVATE\n", 0o600)
	file("usr/lib/systemd/system/kubelet.service", "[Unit]\n[Install]\nWantedBy=multi-user.target\n", 0o644)
	file("a/b/c/d/e/f/deep", "deep\n", 0o640)
	file("data/empty", "", 0o644)
	file("data/name with \"quotes\" and spaces", "odd\n", 0o644)
	file("data/line\nbreak", "newline in the name\n", 0o644)
	file("data/big", strings.Repeat("0123456789abcdef", (MaxCached+4096)/16), 0o644)
	file("data/suid", "#!/bin/sh\n", 0o4755)
	must(t, os.Link(p("etc/hostname"), p("data/hardlink")))
	must(t, os.Symlink("../etc/hostname", p("data/relative")))
	must(t, os.Symlink("/etc/hostname", p("data/absolute")))
	must(t, os.Symlink("/"+strings.Repeat("etc/../", 12)+"etc/hostname", p("data/long")))
	must(t, os.Symlink("/usr/lib", p("lib")))
	must(t, os.Symlink("../../../../../../../../etc/hostname", p("data/escape")))
	must(t, os.Symlink("/nonexistent", p("data/dangling")))
	must(t, os.Symlink("loop2", p("data/loop1")))
	must(t, os.Symlink("loop1", p("data/loop2")))
	sparse, err := os.Create(p("data/sparse"))
	must(t, err)
	_, err = sparse.WriteAt([]byte("end"), 3<<20)
	must(t, err)
	must(t, sparse.Close())
	file("home/user/.bash_history", "ls\n", 0o600)
	must(t, os.Lchown(p("home/user"), 100000, 100001))
	must(t, os.Lchown(p("home/user/.bash_history"), 100000, 100001))
}

// mkfs writes an ext4 image of root with mke2fs -d, at offset bytes into
// a file of its own, as the assembler places the root in a disk.
func mkfs(t *testing.T, root, image string, offset int64) {
	t.Helper()
	requireTools(t, "mke2fs", "debugfs")
	const size = 64 << 20
	f, err := os.Create(image)
	must(t, err)
	must(t, f.Truncate(offset+size))
	must(t, f.Close())
	args := []string{"-q", "-F", "-t", "ext4", "-d", root}
	if offset > 0 {
		args = append(args, "-E", "offset="+itoa(offset))
	}
	args = append(args, image, itoa(size/1024)+"k")
	if out, err := exec.Command("mke2fs", args...).CombinedOutput(); err != nil {
		t.Fatalf("mke2fs: %v\n%s", err, out)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestFSMatchesTree reads an image made from a tree and compares every
// entry with the tree: names, types, modes, owners, sizes, link targets
// and contents. The filesystem starts 1 MiB into the file, as in a disk.
func TestFSMatchesTree(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "tree")
	makeTree(t, root)
	img := filepath.Join(dir, "disk.raw")
	mkfs(t, root, img, 1<<20)
	fsys, err := Open(context.Background(), img, 1<<20)
	must(t, err)
	defer fsys.Close()

	must(t, fsys.PrefetchTree("."))
	afterWalk := fsys.Runs()
	want := os.DirFS(root).(fs.ReadLinkFS)
	n := 0
	err = fs.WalkDir(want, ".", func(name string, d fs.DirEntry, err error) error {
		must(t, err)
		n++
		wi, err := want.Lstat(name)
		must(t, err)
		gi, err := fsys.Lstat(name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			return nil
		}
		if gi.Mode() != wi.Mode() || (!wi.IsDir() && gi.Size() != wi.Size()) {
			t.Errorf("%s: mode %v size %d, want %v %d", name, gi.Mode(), gi.Size(), wi.Mode(), wi.Size())
		}
		gs, ws := gi.Sys().(*syscall.Stat_t), wi.Sys().(*syscall.Stat_t)
		if gs.Uid != ws.Uid || gs.Gid != ws.Gid {
			t.Errorf("%s: owner %d:%d, want %d:%d", name, gs.Uid, gs.Gid, ws.Uid, ws.Gid)
		}
		switch {
		case wi.Mode()&fs.ModeSymlink != 0:
			wt, _ := want.ReadLink(name)
			gt, err := fsys.ReadLink(name)
			if err != nil || gt != wt {
				t.Errorf("%s: target %q (%v), want %q", name, gt, err, wt)
			}
		case wi.Mode().IsRegular():
			wb, _ := fs.ReadFile(want, name)
			gb, err := fsys.ReadFile(name)
			if err != nil || !bytes.Equal(gb, wb) {
				t.Errorf("%s: content differs (%d bytes, want %d; %v)", name, len(gb), len(wb), err)
			}
		}
		return nil
	})
	must(t, err)
	if n < 30 {
		t.Fatalf("walked only %d entries", n)
	}
	// Listings and links came from the walk; only contents took runs.
	if fsys.Runs() == afterWalk {
		t.Errorf("no run read contents?")
	}
	lister := fsys.Runs()
	if _, err := fsys.ReadDir("a/b/c/d/e/f"); err != nil || fsys.Runs() != lister {
		t.Errorf("ReadDir after PrefetchTree ran debugfs again (%v)", err)
	}
}

// TestFSFollowsLinksInsideTheImage: symlinks resolve against the image's
// root, never the host's, and loops end.
func TestFSFollowsLinksInsideTheImage(t *testing.T) {
	fsys := openTree(t)
	for _, name := range []string{"data/relative", "data/absolute", "data/long", "data/escape", "data/hardlink"} {
		b, err := fsys.ReadFile(name)
		if err != nil || string(b) != "node\n" {
			t.Errorf("%s: %q, %v", name, b, err)
		}
	}
	if _, err := fsys.Stat("lib/systemd/system/kubelet.service"); err != nil {
		t.Errorf("through a directory link: %v", err)
	}
	if _, err := fsys.Stat("data/dangling"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("dangling link: %v", err)
	}
	if info, err := fsys.Lstat("data/dangling"); err != nil || info.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("Lstat of a dangling link: %v, %v", info, err)
	}
	if _, err := fsys.Stat("data/loop1"); !errors.Is(err, syscall.ELOOP) {
		t.Errorf("link loop: %v", err)
	}
	if _, err := fsys.Stat("etc/hostname/x"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("below a file: %v", err)
	}
}

// TestFSPrefetchBatches: Prefetch reads many paths in as many runs as the
// deepest needs, and later reads cost no run.
func TestFSPrefetchBatches(t *testing.T) {
	fsys := openTree(t)
	start := fsys.Runs()
	names := []string{"etc/hostname", "etc/ssh/ssh_host_ed25519_key", "a/b/c/d/e/f/deep", "data/absolute",
		"lib/systemd/system/kubelet.service", "nonexistent/file", "home/user"}
	must(t, fsys.Prefetch(names))
	runs := fsys.Runs() - start
	// a, a/b, ... a/b/c/d/e/f: 6 levels of listings, the data/absolute and
	// lib links, and one run for the contents.
	if runs > 9 {
		t.Errorf("Prefetch of %d names took %d runs", len(names), runs)
	}
	before := fsys.Runs()
	for _, n := range names[:5] {
		if _, err := fsys.ReadFile(n); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
	if _, err := fsys.ReadDir("home/user"); err != nil {
		t.Error(err)
	}
	if fsys.Runs() != before {
		t.Errorf("reads after Prefetch took %d runs", fsys.Runs()-before)
	}
}

// TestReadFilesStreams: ReadFiles hands every file's exact content, a
// sparse one included, in order.
func TestReadFilesStreams(t *testing.T) {
	fsys := openTree(t)
	names := []string{"data/sparse", "etc/hostname", "data/big", "data/empty", "data/relative"}
	var got []string
	err := fsys.ReadFiles(names, func(name string, r io.Reader) error {
		b, err := io.ReadAll(r)
		switch name {
		case "data/sparse":
			if len(b) != 3<<20+3 || string(b[len(b)-3:]) != "end" {
				t.Errorf("sparse file: %d bytes", len(b))
			}
		case "data/big":
			if len(b) <= MaxCached {
				t.Errorf("big file: %d bytes", len(b))
			}
		}
		got = append(got, name)
		return err
	})
	must(t, err)
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Errorf("order %q", got)
	}
	if err := fsys.ReadFiles([]string{"data/dangling"}, func(string, io.Reader) error { return nil }); err == nil {
		t.Error("no error for a dangling link")
	}
}

func TestFSConformsToIOFS(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "tree")
	must(t, os.MkdirAll(filepath.Join(root, "etc/sub"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "etc/hostname"), []byte("node\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "etc/sub/big"), bytes.Repeat([]byte("x"), MaxCached+1), 0o644))
	img := filepath.Join(dir, "root.ext4")
	mkfs(t, root, img, 0)
	fsys, err := Open(context.Background(), img, 0)
	must(t, err)
	defer fsys.Close()
	must(t, fstest.TestFS(fsys, "etc/hostname", "etc/sub/big", "lost+found"))
}

func TestOpenRefusesWhatIsNoExt4(t *testing.T) {
	requireTools(t, "debugfs")
	p := filepath.Join(t.TempDir(), "zeros?.img")
	must(t, os.WriteFile(p, make([]byte, 1<<20), 0o644))
	_, err := Open(context.Background(), p, 0)
	if err == nil || !strings.Contains(err.Error(), "Bad magic number") {
		t.Errorf("Open of zeros: %v", err)
	}
}

func openTree(t *testing.T) *FS {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "tree")
	makeTree(t, root)
	img := filepath.Join(dir, "root.ext4")
	mkfs(t, root, img, 0)
	fsys, err := Open(context.Background(), img, 0)
	must(t, err)
	t.Cleanup(func() { fsys.Close() })
	return fsys
}
