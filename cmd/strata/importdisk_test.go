package main

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportDisk: the image is written as raw only when its sha256 and
// format are the ones asked for; a directory stands for the one file in it.
func TestImportDisk(t *testing.T) {
	dir := t.TempDir()
	data := bytes.Repeat([]byte("vendor disk "), 1<<16) // 768 KiB
	image := filepath.Join(dir, "in", "vendor.img")
	must(t, os.MkdirAll(filepath.Dir(image), 0o755))
	must(t, os.WriteFile(image, data, 0o644))
	h := sha256.Sum256(data)
	sum := hex.EncodeToString(h[:])
	h512 := sha512.Sum512(data)
	sum512 := hex.EncodeToString(h512[:])
	wrong := strings.Repeat("0", 64)

	for name, c := range map[string]struct {
		args []string
		want string // in the error; "" for success
	}{
		"file":          {[]string{image, "--sha256", sum}, ""},
		"directory":     {[]string{filepath.Dir(image), "--sha256", sum, "--format", "raw"}, ""},
		"no checksum":   {[]string{image}, ""},
		"wrong sha256":  {[]string{image, "--sha256", wrong}, "has sha256 " + sum + ", want " + wrong},
		"sha512":        {[]string{image, "--sha512", sum512}, ""},
		"wrong sha512":  {[]string{image, "--sha512", wrong + wrong}, "has sha512 " + sum512 + ", want " + wrong + wrong + " (os.baseDisk.sha512)"},
		"wrong format":  {[]string{image, "--format", "qcow2"}, "is a raw image, not qcow2"},
		"two files":     {[]string{dir}, "must hold the disk image alone"},
		"missing image": {[]string{filepath.Join(dir, "nope.img")}, "no such file"},
	} {
		t.Run(name, func(t *testing.T) {
			if name == "two files" {
				must(t, os.WriteFile(filepath.Join(dir, "other.img"), data, 0o644))
				defer os.Remove(filepath.Join(dir, "other.img"))
			}
			out := filepath.Join(t.TempDir(), "disk.raw")
			root := newRootCmd()
			root.SetArgs(append([]string{"import-disk", "-o", out}, c.args...))
			root.SetOut(io.Discard)
			root.SetErr(io.Discard)
			err := root.Execute()
			if c.want != "" {
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("got %v, want an error saying %q", err, c.want)
				}
				if _, err := os.Stat(out); !os.IsNotExist(err) {
					t.Errorf("a refused image left %s", out)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(out)
			must(t, err)
			if !bytes.Equal(got, data) {
				t.Errorf("the raw disk differs from the raw image it was imported from")
			}
		})
	}
}
