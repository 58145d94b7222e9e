package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	gwclient "github.com/moby/buildkit/frontend/gateway/client"
	fstypes "github.com/tonistiigi/fsutil/types"
)

// fileRef serves one file's ranges, as the gateway's ReadFile does.
type fileRef struct {
	gwclient.Reference
	name  string
	data  []byte
	reads atomic.Int32
	short bool // serve a byte less than asked, as a file cut short would
}

func (r *fileRef) ReadFile(_ context.Context, req gwclient.ReadRequest) ([]byte, error) {
	if req.Filename != r.name || req.Range == nil {
		return nil, os.ErrNotExist
	}
	r.reads.Add(1)
	end := min(req.Range.Offset+req.Range.Length, len(r.data))
	if r.short {
		end--
	}
	return bytes.Clone(r.data[req.Range.Offset:end]), nil
}

// treeRef lists a tree, as the gateway's ReadDir does: base names only.
type treeRef struct {
	gwclient.Reference
	dirs map[string][]*fstypes.Stat
}

func (r treeRef) ReadDir(_ context.Context, req gwclient.ReadDirRequest) ([]*fstypes.Stat, error) {
	entries, ok := r.dirs[req.Path]
	if !ok {
		return nil, os.ErrNotExist
	}
	return entries, nil
}

// TestLargeFiles: the images at the top and one directory down are read
// directly; small files, deeper ones, links and files with xattrs are not.
func TestLargeFiles(t *testing.T) {
	dir := uint32(os.ModeDir | 0o755)
	big := int64(directReadMin)
	ref := treeRef{dirs: map[string][]*fstypes.Stat{
		"/": {
			{Path: "disk.raw", Mode: 0o644, Size: big},
			{Path: "manifest.json", Mode: 0o644, Size: 300},
			{Path: "qemu", Mode: dir},
			{Path: "boot", Mode: dir},
			{Path: "disk.link", Mode: uint32(os.ModeSymlink | 0o777), Size: big},
		},
		"/qemu": {
			{Path: "disk.qcow2", Mode: 0o644, Size: big + 1},
			{Path: "labelled.raw", Mode: 0o644, Size: big, Xattrs: map[string][]byte{"user.x": nil}},
			{Path: "deeper", Mode: dir},
		},
		"/boot": {{Path: "initrd.img", Mode: 0o644, Size: big - 1}},
	}}
	files, err := largeFiles(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, f.name)
	}
	if got, want := strings.Join(names, " "), "/disk.raw /qemu/disk.qcow2"; got != want {
		t.Errorf("read directly: %s, want %s", got, want)
	}
}

func TestDirectReadFetchFile(t *testing.T) {
	data := make([]byte, 2*directReadChunk+5) // a ragged last range
	copy(data[1<<20:], "partition table")
	copy(data[directReadChunk+4096:], "root filesystem")
	copy(data[len(data)-3:], "end")
	ref := &fileRef{name: "/qemu/disk.raw", data: data}
	mtime := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	st := &fstypes.Stat{Path: "disk.raw", Mode: 0o640, Size: int64(len(data)), ModTime: mtime.UnixNano()}
	dir := filepath.Join(t.TempDir(), "out")
	if err := (directRead{dir: dir}).fetchFile(context.Background(), ref, "/qemu/disk.raw", st); err != nil {
		t.Fatal(err)
	}
	if n := ref.reads.Load(); n != 3 {
		t.Errorf("%d ranged reads, want 3 of at most %d bytes", n, directReadChunk)
	}
	got, err := os.ReadFile(filepath.Join(dir, "qemu", "disk.raw"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("the file differs from the result's")
	}
	fi, err := os.Stat(filepath.Join(dir, "qemu", "disk.raw"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != 0o640 || !fi.ModTime().Equal(mtime) {
		t.Errorf("mode %v, mtime %v; want -rw-r----- and %v", fi.Mode(), fi.ModTime(), mtime)
	}
	if allocated := fi.Sys().(*syscall.Stat_t).Blocks * 512; allocated > 64<<10 {
		t.Errorf("%d bytes allocated for 3 blocks of data: the zeros were written", allocated)
	}
}

func TestDirectReadFailsOnAShortRange(t *testing.T) {
	ref := &fileRef{name: "/disk.raw", data: make([]byte, directReadChunk), short: true}
	st := &fstypes.Stat{Path: "disk.raw", Mode: 0o644, Size: directReadChunk}
	err := (directRead{dir: t.TempDir()}).fetchFile(context.Background(), ref, "/disk.raw", st)
	if err == nil || !strings.Contains(err.Error(), "changed while it was read") {
		t.Fatalf("got %v, want an error about the short read", err)
	}
}
