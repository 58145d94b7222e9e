package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestRemoveLeftovers(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{".build-123/release-tree", "release-tree"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	removeLeftovers(dir)
	if _, err := os.Stat(filepath.Join(dir, ".build-123")); !os.IsNotExist(err) {
		t.Errorf("a killed run's scratch directory survived: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "release-tree")); err != nil {
		t.Errorf("the finished tree was removed: %v", err)
	}
}

func TestWriteAtomicLeavesNothingOnFailure(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "artifact")
	err := writeAtomic(target, 0o644, func(w io.Writer) error {
		w.Write([]byte("half"))
		return errors.New("interrupted")
	})
	if err == nil {
		t.Fatal("writeAtomic hid the failure")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a failed write left %v", entries)
	}
}
