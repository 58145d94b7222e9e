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

// TestDirExportCutMidFile: a build that fails while the tar brings a file
// leaves neither that file nor its temporary one in DIR, and an earlier
// build's file of that name stays as it was.
func TestDirExportCutMidFile(t *testing.T) {
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "disk.qcow2"), []byte("earlier build"), 0o644))
	dirs := exportDirsAsTar(&client.SolveOpt{Exports: []client.ExportEntry{{Type: client.ExporterLocal, OutputDir: dir}}})
	w, err := dirs[0].open(nil)
	must(t, err)
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	must(t, tw.WriteHeader(&tar.Header{Name: "disk.qcow2", Typeflag: tar.TypeReg, Mode: 0o644, Size: 4 << 20}))
	_, err = tw.Write(bytes.Repeat([]byte("q"), 1<<20)) // a quarter of it
	must(t, err)
	if _, err := w.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := dirs[0].finish(errors.New("solve failed")); err != nil {
		t.Errorf("finish: %v; the solve's error is the one to report", err)
	}
	if left := dirNames(t, dir); len(left) != 1 || left[0] != "disk.qcow2" {
		t.Errorf("%s holds %v, want the earlier disk.qcow2 alone", dir, left)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "disk.qcow2")); string(got) != "earlier build" {
		t.Errorf("disk.qcow2 holds %d bytes, want the earlier build's file untouched", len(got))
	}
}

// TestTarExportOnlyWhenTheBuildSucceeds: -o type=tar,dest=FILE writes the
// stream beside FILE and renames it there when the build succeeded; a
// failed build leaves the earlier FILE and nothing else.
func TestTarExportOnlyWhenTheBuildSucceeds(t *testing.T) {
	dir := t.TempDir()
	dest := filepath.Join(dir, "rootfs.tar")
	must(t, os.WriteFile(dest, []byte("earlier build"), 0o644))
	for _, buildErr := range []error{errors.New("solve failed"), nil} {
		e, err := parseOutput("type=tar,dest=" + dest)
		must(t, err)
		so := client.SolveOpt{Exports: []client.ExportEntry{e}}
		files := exportFilesAtomically(&so)
		if len(files) != 1 || so.Exports[0].Output == nil || so.Exports[0].OutputDir != "" {
			t.Fatalf("the tar export was not swapped for a fileExport: %+v", so.Exports)
		}
		w, err := so.Exports[0].Output(nil)
		must(t, err)
		if _, err := w.Write([]byte("new tar")); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(dest); string(got) != "earlier build" {
			t.Errorf("while the stream comes, %s holds %q; want the earlier file", dest, got)
		}
		must(t, w.Close())
		must(t, files[0].finish(buildErr))
		want := "new tar"
		if buildErr != nil {
			want = "earlier build"
		}
		if got, _ := os.ReadFile(dest); string(got) != want {
			t.Errorf("build error %v: %s holds %q, want %q", buildErr, dest, got, want)
		}
		if left := dirNames(t, dir); len(left) != 1 {
			t.Errorf("build error %v: %s holds %v, want rootfs.tar alone", buildErr, dir, left)
		}
	}
}
