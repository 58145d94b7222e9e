package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/moby/buildkit/client"
)

// TestDirExportUnpacksSparse feeds a dirExport what BuildKit's tar
// exporter sends: a tree with a mostly-zero disk image, then padding past
// the tar's end. The tree arrives whole and the image sparse.
func TestDirExportUnpacksSparse(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	so := client.SolveOpt{Exports: []client.ExportEntry{{Type: client.ExporterLocal, OutputDir: dir}}}
	dirs := exportDirsAsTar(&so)
	if len(dirs) != 1 || so.Exports[0].Type != client.ExporterTar || so.Exports[0].Output == nil {
		t.Fatalf("the local export was not swapped for a tar: %+v", so.Exports)
	}
	w, err := so.Exports[0].Output(nil)
	if err != nil {
		t.Fatal(err)
	}
	disk := make([]byte, 8<<20)
	copy(disk[4<<20:], "data in the middle")
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range []struct {
		name string
		typ  byte
		body []byte
	}{
		{"raw/", tar.TypeDir, nil},
		{"raw/disk.raw", tar.TypeReg, disk},
		{"raw/manifest.json", tar.TypeReg, []byte("{}\n")},
	} {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o644, Size: int64(len(e.body)), Uid: os.Geteuid(), Gid: os.Getegid()}
		if e.typ == tar.TypeDir {
			h.Mode = 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.body); err != nil {
			t.Fatal(err)
		}
	}
	tw.Close()
	b.Write(make([]byte, 10240)) // record padding after the end
	if _, err := w.Write(b.Bytes()); err != nil {
		t.Fatalf("writing the stream: %v", err)
	}
	w.Close()
	if err := dirs[0].finish(nil); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "raw/disk.raw"))
	if err != nil || !bytes.Equal(got, disk) {
		t.Fatalf("disk.raw: %v, or its bytes differ", err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(dir, "raw/disk.raw"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Blocks*512 > 1<<20 {
		t.Errorf("disk.raw has %d bytes allocated of 8 MiB: not sparse", st.Blocks*512)
	}
}

// TestDirExportFailedBuild: a build that fails before its export leaves
// no directory; one that fails during it reports the build's error.
func TestDirExportFailedBuild(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	so := client.SolveOpt{Exports: []client.ExportEntry{{Type: client.ExporterLocal, OutputDir: dir}}}
	dirs := exportDirsAsTar(&so)
	if err := dirs[0].finish(errors.New("solve failed")); err != nil {
		t.Errorf("finish before the export began: %v", err)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("a build that exported nothing created %s", dir)
	}

	dirs = exportDirsAsTar(&client.SolveOpt{Exports: []client.ExportEntry{{Type: client.ExporterLocal, OutputDir: dir}}})
	w, err := dirs[0].open(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, 100)); err != nil { // half a header
		t.Fatal(err)
	}
	if err := dirs[0].finish(errors.New("solve failed")); err != nil {
		t.Errorf("finish after a failed solve: %v; the solve's error is the one to report", err)
	}
}
