package disk

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func allocated(t *testing.T, f *os.File) int64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

// sparseSource makes a 64 MiB file with two 4 KiB extents of data, one of
// them all zeros written explicitly.
func sparseSource(t *testing.T) (*os.File, []byte) {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "src"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	data := bytes.Repeat([]byte("strata"), 700)[:4096]
	if _, err := f.WriteAt(data, 32<<20); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(make([]byte, 4096), 40<<20); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(64 << 20); err != nil {
		t.Fatal(err)
	}
	return f, data
}

func TestCopySparse(t *testing.T) {
	for name, copyFn := range map[string]func(dst *os.File, dstOff int64, src *os.File, srcOff, n int64) error{
		"seek+copy_file_range": copySparse,
		"zero-skipping":        copyZeroSkipping,
	} {
		t.Run(name, func(t *testing.T) {
			src, data := sparseSource(t)
			dst, err := os.Create(filepath.Join(t.TempDir(), "dst"))
			if err != nil {
				t.Fatal(err)
			}
			defer dst.Close()
			if err := dst.Truncate(128 << 20); err != nil {
				t.Fatal(err)
			}
			const off = 1 << 20
			if err := copyFn(dst, off, src, 0, 64<<20); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, 4096)
			if _, err := dst.ReadAt(got, off+32<<20); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("data not copied to its offset (%v)", err)
			}
			if _, err := dst.ReadAt(got, off+32<<20-4096); err != nil || !bytes.Equal(got, make([]byte, 4096)) {
				t.Fatalf("bytes before the data are not zero (%v)", err)
			}
			if a := allocated(t, dst); a > 64<<10 {
				t.Errorf("destination allocates %d bytes, want <= 64 KiB", a)
			}
		})
	}
}

// TestWriteAtSkippingZeros: data blocks land at their offsets, with the
// ragged tail that is not a whole block, and all-zero blocks stay holes.
func TestWriteAtSkippingZeros(t *testing.T) {
	p := make([]byte, 3*1024*1024+100) // not a whole number of blocks
	copy(p[8192:], "first run")
	copy(p[8192+4096:], "same run")
	copy(p[2<<20:], "second run")
	copy(p[len(p)-10:], "tail")
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const off = 1 << 20
	if err := WriteAtSkippingZeros(f, p, off); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(off + int64(len(p))); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(p))
	if _, err := f.ReadAt(got, off); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, p) {
		t.Fatal("the file does not read back as what was written")
	}
	if a := allocated(t, f); a > 64<<10 {
		t.Errorf("the file allocates %d bytes for 4 blocks of data, want <= 64 KiB", a)
	}
}
