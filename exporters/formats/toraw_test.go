package formats_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/strata-dev/strata/exporters/formats"
	"github.com/strata-dev/strata/exporters/formats/internal/testdisk"
)

// TestWriteRawRoundTrip: a disk converted to each format a vendor
// publishes in and written back as raw is the disk it was, byte for byte,
// and its empty stretches stay holes.
func TestWriteRawRoundTrip(t *testing.T) {
	dir := t.TempDir()
	raw := testdisk.Synthetic(t, dir, 48<<20+12345*512, 7)
	want, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"raw", "qcow2", "qcow2-compressed", "vhd", "vhd-dynamic", "vmdk"} {
		t.Run(name, func(t *testing.T) {
			f, err := formats.Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			image := raw
			if name != "raw" {
				res, err := formats.Convert(context.Background(), raw, filepath.Join(t.TempDir(), "vendor."+name), f, formats.Options{Seed: "toraw"})
				if err != nil {
					t.Fatal(err)
				}
				image = res.Path
			}
			img, err := formats.Open(image)
			if err != nil {
				t.Fatal(err)
			}
			defer img.Close()
			out := filepath.Join(t.TempDir(), "disk.raw")
			written, err := formats.WriteRaw(context.Background(), img, out)
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			// VHD and VMDK round the virtual size up; the rest reads as zeros.
			if len(got) < len(want) || !bytes.Equal(got[:len(want)], want) || bytes.ContainsFunc(got[len(want):], func(r rune) bool { return r != 0 }) {
				t.Fatalf("the %s image written back as raw differs from the disk (%d bytes, want %d)", name, len(got), len(want))
			}
			st, err := os.Stat(out)
			if err != nil {
				t.Fatal(err)
			}
			if used := st.Sys().(*syscall.Stat_t).Blocks * 512; written >= st.Size()/2 || used > 2*written+1<<20 {
				t.Errorf("wrote %d bytes of data (%d allocated) for a %d-byte disk that is mostly holes", written, used, st.Size())
			}
		})
	}
}
