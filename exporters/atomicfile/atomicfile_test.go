package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// names lists dir.
func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n []string
	for _, e := range entries {
		n = append(n, e.Name())
	}
	return n
}

// TestCommitAndAbort: until Commit, the final name holds what it held
// before and the data sits under a hidden temporary name; Commit replaces
// it, and Abort leaves only the old file.
func TestCommitAndAbort(t *testing.T) {
	dir := t.TempDir()
	final := filepath.Join(dir, "disk.raw")
	if err := os.WriteFile(final, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}

	f, err := Create(final, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("half"); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Base(f.Name())
	if !strings.HasPrefix(tmp, ".disk.raw"+Marker) {
		t.Errorf("temporary name %q, want .disk.raw%s...", tmp, Marker)
	}
	if got, _ := os.ReadFile(final); string(got) != "old" {
		t.Errorf("while writing, %s holds %q, want the old file", final, got)
	}
	if err := f.Abort(errors.New("failed")); err == nil || err.Error() != "failed" {
		t.Errorf("Abort returned %v, want the error it was given", err)
	}
	if got := names(t, dir); len(got) != 1 || got[0] != "disk.raw" {
		t.Errorf("after Abort the directory holds %v, want only disk.raw", got)
	}
	if got, _ := os.ReadFile(final); string(got) != "old" {
		t.Errorf("after Abort %s holds %q, want the old file", final, got)
	}

	f, err = Create(final, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("new"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil { // as an exporter closes its stream
		t.Fatal(err)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := f.Abort(errors.New("late")); err == nil {
		t.Error("Abort after Commit swallowed the error")
	}
	if got, _ := os.ReadFile(final); string(got) != "new" {
		t.Errorf("after Commit %s holds %q, want new", final, got)
	}
	if got := names(t, dir); len(got) != 1 {
		t.Errorf("after Commit the directory holds %v, want only disk.raw", got)
	}
}

// TestLongNames: a final name of 255 bytes, the most a name may have,
// still gets a temporary name that fits.
func TestLongNames(t *testing.T) {
	final := filepath.Join(t.TempDir(), strings.Repeat("n", 255))
	if err := WriteFile(final, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(final); err != nil || string(got) != "x" {
		t.Errorf("read back %q, %v", got, err)
	}
}

func TestWriteFileMode(t *testing.T) {
	old := unix.Umask(0o022)
	defer unix.Umask(old)
	final := filepath.Join(t.TempDir(), "manifest.json")
	if err := WriteFile(final, []byte("{}"), 0o666); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(final)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644 (0666 less the umask, as os.WriteFile)", fi.Mode())
	}
}

// TestExplainFullDisk: ENOSPC becomes an error that says the disk is full
// and names the output; other errors pass as they are.
func TestExplainFullDisk(t *testing.T) {
	final := filepath.Join(t.TempDir(), "disk.qcow2")
	enospc := &fs.PathError{Op: "write", Path: "/x/.disk.qcow2" + Marker + "1", Err: unix.ENOSPC}
	err := Explain(enospc, final)
	if !errors.Is(err, unix.ENOSPC) {
		t.Errorf("%v lost ENOSPC", err)
	}
	for _, want := range []string{"disk is full", final, "write the output elsewhere"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
	if again := Explain(err, final); again.Error() != err.Error() {
		t.Errorf("explained twice: %v", again)
	}
	other := errors.New("bad header")
	if got := Explain(other, final); got != other {
		t.Errorf("Explain(%v) = %v, want it unchanged on a disk with room", other, got)
	}
}
