package sysext

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-dev/strata/exporters/atomicfile"
)

// TestWriteFailsMidway: a tool that dies after writing part of the image
// leaves the image and SHA256SUMS of an earlier run as they were, and no
// temporary file. A stand-in mksquashfs writes half an image and fails,
// after noting the name it was given.
func TestWriteFailsMidway(t *testing.T) {
	bin := t.TempDir()
	seen := filepath.Join(bin, "output-name")
	fake := "#!/bin/sh\necho \"$2\" > " + seen + "\nhead -c 65536 /dev/zero > \"$2\"\necho 'Write failed' >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(bin, "mksquashfs"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))

	dir := t.TempDir()
	out := filepath.Join(dir, "hello-v1-x86-64.raw")
	sums := filepath.Join(dir, SumsFile)
	earlier := "0123  hello-v1-x86-64.raw\n4567  other.raw\n"
	for path, content := range map[string]string{out: "earlier image", sums: earlier} {
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	err := Write(context.Background(), testTree(t), out, Options{Name: "hello", Format: "squashfs"})
	if err == nil || !strings.Contains(err.Error(), "Write failed") {
		t.Fatalf("got %v, want the tool's failure", err)
	}
	name, _ := os.ReadFile(seen)
	if !strings.Contains(string(name), atomicfile.Marker) {
		t.Errorf("the tool wrote to %q, not a temporary file", strings.TrimSpace(string(name)))
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("%s holds %v, want the earlier image and %s alone", dir, entries, SumsFile)
	}
	if b, _ := os.ReadFile(out); string(b) != "earlier image" {
		t.Errorf("the image holds %d bytes, want the earlier run's untouched", len(b))
	}
	if b, _ := os.ReadFile(sums); string(b) != earlier {
		t.Errorf("%s is %q, want the earlier %q", SumsFile, b, earlier)
	}
}
