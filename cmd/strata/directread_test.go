package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/exporter/exptypes"
	gwclient "github.com/moby/buildkit/frontend/gateway/client"
	fstypes "github.com/tonistiigi/fsutil/types"

	"github.com/strata-dev/strata/exporters/formats/rawdisk"
)

// fileRef serves one file's ranges, as the gateway's ReadFile does.
type fileRef struct {
	gwclient.Reference
	name  string
	data  []byte
	reads atomic.Int32
	short bool // serve a byte less than asked, as a file cut short would
	whole bool // serve the whole file to a read without a range
}

func (r *fileRef) ReadFile(_ context.Context, req gwclient.ReadRequest) ([]byte, error) {
	if req.Filename != r.name {
		return nil, os.ErrNotExist
	}
	if req.Range == nil {
		if r.whole {
			return r.data, nil
		}
		return nil, errors.New("a read without a range")
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

// TestLargeFiles: the images at the top and in an output's directory are
// read directly; small files, other directories' (a root filesystem's
// /boot), deeper ones, links and files with xattrs are not.
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
		"/boot": {{Path: "initrd.img", Mode: 0o644, Size: big}},
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
	if err := (directRead{dir: dir}).fetchFile(context.Background(), ref, "/qemu/disk.raw", st, nil, nil); err != nil {
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

// TestDirectReadFailsOnAShortRange: a range cut short fails the read, and
// nothing stays in the directory, neither the file nor its temporary one.
func TestDirectReadFailsOnAShortRange(t *testing.T) {
	ref := &fileRef{name: "/disk.raw", data: make([]byte, directReadChunk), short: true}
	st := &fstypes.Stat{Path: "disk.raw", Mode: 0o644, Size: directReadChunk}
	dir := t.TempDir()
	err := (directRead{dir: dir}).fetchFile(context.Background(), ref, "/disk.raw", st, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "changed while it was read") {
		t.Fatalf("got %v, want an error about the short read", err)
	}
	if left := dirNames(t, dir); len(left) != 0 {
		t.Errorf("a failed read left %v in %s", left, dir)
	}
}

// failingRef serves ranges until the one at failAt, which fails; with
// cancel set, it cancels the build there instead, as SIGINT does.
type failingRef struct {
	fileRef
	failAt int
	cancel context.CancelFunc
}

func (r *failingRef) ReadFile(ctx context.Context, req gwclient.ReadRequest) ([]byte, error) {
	if req.Range != nil && req.Range.Offset >= r.failAt {
		if r.cancel == nil {
			return nil, errors.New("the builder went away")
		}
		r.cancel()
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return r.fileRef.ReadFile(ctx, req)
}

// TestDirectReadFailsMidway: a read that fails, or a build cancelled,
// after some of the file was written leaves no file and no temporary file
// under the directory, and the file an earlier build wrote stays as it
// was.
func TestDirectReadFailsMidway(t *testing.T) {
	data := bytes.Repeat([]byte("disk"), 4*directReadChunk/4)
	for _, cancelled := range []bool{false, true} {
		t.Run(fmt.Sprintf("cancelled=%v", cancelled), func(t *testing.T) {
			dir := t.TempDir()
			must(t, os.MkdirAll(filepath.Join(dir, "qemu"), 0o755))
			must(t, os.WriteFile(filepath.Join(dir, "qemu", "disk.raw"), []byte("earlier build"), 0o644))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ref := &failingRef{fileRef: fileRef{name: "/qemu/disk.raw", data: data}, failAt: 3 * directReadChunk}
			if cancelled {
				ref.cancel = cancel
			}
			st := &fstypes.Stat{Mode: 0o644, Size: int64(len(data))}
			err := (directRead{dir: dir}).fetchFile(ctx, ref, "/qemu/disk.raw", st, nil, nil)
			if err == nil {
				t.Fatal("a failed read succeeded")
			}
			if n := ref.reads.Load(); n == 0 {
				t.Fatal("no range was read before the failure: not midway")
			}
			if left := dirNames(t, filepath.Join(dir, "qemu")); len(left) != 1 || left[0] != "disk.raw" {
				t.Errorf("%s holds %v, want the earlier disk.raw alone", dir, left)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, "qemu", "disk.raw")); string(b) != "earlier build" {
				t.Errorf("disk.raw holds %d bytes, want the earlier build's file untouched", len(b))
			}
		})
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestDirectReadOnlyExtents: with the data extents listed, only they are
// read, in ranges of at most directReadChunk, and the rest stay holes.
func TestDirectReadOnlyExtents(t *testing.T) {
	data := make([]byte, 64<<20)
	copy(data[4096:], "gpt")
	for i := 20 << 20; i < 20<<20+directReadChunk+100; i++ {
		data[i] = byte(i)
	}
	extents := []rawdisk.Extent{{Off: 0, Len: 8192}, {Off: 20 << 20, Len: directReadChunk + 4096}}
	ref := &extentRef{fileRef: fileRef{name: "/disk.raw", data: data}, extents: extents}
	st := &fstypes.Stat{Path: "disk.raw", Mode: 0o644, Size: int64(len(data))}
	dir := t.TempDir()
	if err := (directRead{dir: dir}).fetchFile(context.Background(), ref, "/disk.raw", st, extents, nil); err != nil {
		t.Fatal(err)
	}
	if n := ref.reads.Load(); n != 3 {
		t.Errorf("%d reads, want 3: one for the first extent, two for the second", n)
	}
	got, err := os.ReadFile(filepath.Join(dir, "disk.raw"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("the file differs from the result's")
	}
}

// extentRef fails a read outside its extents: the holes must not be sent.
type extentRef struct {
	fileRef
	extents []rawdisk.Extent
}

func (r *extentRef) ReadFile(ctx context.Context, req gwclient.ReadRequest) ([]byte, error) {
	for _, e := range r.extents {
		if int64(req.Range.Offset) >= e.Off && int64(req.Range.Offset+req.Range.Length) <= e.End() {
			return r.fileRef.ReadFile(ctx, req)
		}
	}
	return nil, fmt.Errorf("read of %d bytes at %d is outside the data extents", req.Range.Length, req.Range.Offset)
}

func TestReadRanges(t *testing.T) {
	got := readRanges(10<<20, []rawdisk.Extent{{Off: 0, Len: 4096}, {Off: 1 << 20, Len: 20 << 20}})
	want := []rawdisk.Extent{{Off: 0, Len: 4096}, {Off: 1 << 20, Len: directReadChunk}, {Off: 1<<20 + directReadChunk, Len: 1 << 20}}
	if !slices.Equal(got, want) {
		t.Errorf("ranges %v, want %v (the second extent cut at the file's end)", got, want)
	}
	if whole := readRanges(directReadChunk+1, nil); len(whole) != 2 || whole[1] != (rawdisk.Extent{Off: directReadChunk, Len: 1}) {
		t.Errorf("without extents, ranges %v", whole)
	}
}

// TestExtentsCommand: strata extents lists a sparse file's data.
func TestExtentsCommand(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.raw")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte{1}, 1<<20), 8<<20); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(64 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out := filepath.Join(dir, "extents.json")
	cmd := newRootCmd()
	cmd.SetArgs([]string{"extents", "-o", out, img})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string][]rawdisk.Extent
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if ext := got[img]; len(ext) != 1 || ext[0] != (rawdisk.Extent{Off: 8 << 20, Len: 1 << 20}) {
		t.Errorf("extents %v, want the one MiB of data at 8 MiB", got)
	}
}

// failingSolver is a gateway whose solves fail, as one would where the
// tools image's strata has no extents command.
type failingSolver struct{ gwclient.Client }

func (failingSolver) Solve(context.Context, gwclient.SolveRequest) (*gwclient.Result, error) {
	return nil, errors.New(`exec: "extents": unknown command`)
}

type stateRef struct{ gwclient.Reference }

func (stateRef) ToState() (llb.State, error) { return llb.Scratch(), nil }

// TestExtentsFallBackToWholeFiles: when the extents cannot be listed, the
// files are read whole rather than the build failing.
func TestExtentsFallBackToWholeFiles(t *testing.T) {
	tools := func(context.Context, gwclient.Client) (llb.State, error) { return llb.Image("tools"), nil }
	files := []resultFile{{"/disk.raw", &fstypes.Stat{Size: directReadExtentsMin}}}
	status := make(chan *client.SolveStatus, 2)
	if got := (directRead{tools: tools, status: status}).extents(context.Background(), failingSolver{}, stateRef{}, files); got != nil {
		t.Errorf("extents %v from a failed step", got)
	}
	if len(status) != 2 {
		t.Fatalf("%d progress updates, want the note's start and end", len(status))
	}
	if v := (<-status).Vertexes[0]; !strings.Contains(v.Name, "/result/disk.raw whole: its data extents could not be listed") {
		t.Errorf("progress note %q", v.Name)
	}
	small := []resultFile{{"/disk.qcow2", &fstypes.Stat{Size: directReadExtentsMin - 1}}}
	if got := (directRead{tools: tools}).extents(context.Background(), nil, nil, small); got != nil {
		t.Errorf("extents listed for a file under %d bytes: %v", directReadExtentsMin, got)
	}
}

// TestDirectReadEpochAndSymlinkedParent: SOURCE_DATE_EPOCH, as the frontend
// passes it to the export, sets the file's time; a symlink where the
// output's directory goes is replaced, not written through.
func TestDirectReadEpochAndSymlinkedParent(t *testing.T) {
	dir, elsewhere := t.TempDir(), t.TempDir()
	if err := os.Symlink(elsewhere, filepath.Join(dir, "qemu")); err != nil {
		t.Fatal(err)
	}
	res := &gwclient.Result{Metadata: map[string][]byte{exptypes.ExporterEpochKey: []byte("1700000000")}}
	epoch, err := exportEpoch(res)
	if err != nil || epoch == nil || epoch.Unix() != 1700000000 {
		t.Fatalf("epoch %v (%v), want 1700000000", epoch, err)
	}
	ref := &fileRef{name: "/qemu/disk.qcow2", data: []byte("QFI\xfb")}
	st := &fstypes.Stat{Mode: 0o644, Size: 4, ModTime: time.Now().UnixNano()}
	if err := (directRead{dir: dir}).fetchFile(context.Background(), ref, "/qemu/disk.qcow2", st, nil, epoch); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(filepath.Join(dir, "qemu"))
	if err != nil || !fi.IsDir() {
		t.Fatalf("%s/qemu is %v (%v), want a directory", dir, fi.Mode(), err)
	}
	fi, err = os.Stat(filepath.Join(dir, "qemu", "disk.qcow2"))
	if err != nil {
		t.Fatal(err)
	}
	if !fi.ModTime().Equal(*epoch) {
		t.Errorf("mtime %v, want the epoch %v", fi.ModTime(), epoch)
	}
	if entries, _ := os.ReadDir(elsewhere); len(entries) != 0 {
		t.Errorf("written through the symlink into %s: %v", elsewhere, entries)
	}
}

// extentsSolver runs the extents step by serving the JSON it would write.
type extentsSolver struct {
	gwclient.Client
	json string
}

func (s extentsSolver) Solve(context.Context, gwclient.SolveRequest) (*gwclient.Result, error) {
	res := gwclient.NewResult()
	res.SetRef(&fileRef{name: "/extents.json", data: []byte(s.json), whole: true})
	return res, nil
}

// TestExtentsFromTheStep: the step's paths, under its mount, are the
// result's names again, and an all-holes file has no ranges to read.
func TestExtentsFromTheStep(t *testing.T) {
	tools := func(context.Context, gwclient.Client) (llb.State, error) { return llb.Image("tools"), nil }
	solver := extentsSolver{json: `{"/result/disk.raw":[{"Off":0,"Len":4096}],"/result/raw/disk.raw":[]}`}
	files := []resultFile{
		{"/disk.raw", &fstypes.Stat{Size: directReadExtentsMin}},
		{"/raw/disk.raw", &fstypes.Stat{Size: directReadExtentsMin}},
	}
	got := (directRead{tools: tools}).extents(context.Background(), solver, stateRef{}, files)
	if e := got["/disk.raw"]; len(e) != 1 || e[0] != (rawdisk.Extent{Off: 0, Len: 4096}) {
		t.Errorf("extents of /disk.raw: %v (all: %v)", e, got)
	}
	holes, ok := got["/raw/disk.raw"]
	if !ok || holes == nil {
		t.Fatalf("the all-holes file's extents are unknown: %v", got)
	}
	if r := readRanges(directReadExtentsMin, holes); len(r) != 0 {
		t.Errorf("an all-holes file is read: %v", r)
	}
}
