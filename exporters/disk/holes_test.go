package disk

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestPunchHoles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "disk.raw")
	// 64 MiB written out in full: data at 0, at 32 MiB (unaligned, 10 bytes)
	// and a partial block at the very end; zeros everywhere else.
	const size = 64<<20 + 100
	want := make([]byte, size)
	copy(want[0:], "head")
	copy(want[32<<20+7:], "middle....")
	copy(want[size-3:], "end")
	if err := os.WriteFile(path, want, 0o644); err != nil {
		t.Fatal(err)
	}
	punched, err := PunchHoles(path)
	if err != nil {
		t.Fatal(err)
	}
	// Everything but three 4 KiB blocks and the 100-byte tail can go.
	if min := int64(64<<20 - 3*4096); punched < min {
		t.Errorf("punched %d bytes, want at least %d", punched, min)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("content changed")
	}
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	if allocated := st.Blocks * 512; allocated > 64<<10 {
		t.Errorf("%d bytes still allocated, want at most 64 KiB", allocated)
	}
}
