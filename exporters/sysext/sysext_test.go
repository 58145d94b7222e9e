package sysext

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func requireTool(t *testing.T, format string) {
	t.Helper()
	// Not a skip: a test that skipped itself would pass without checking.
	if _, err := exec.LookPath(Formats[format].Tool); err != nil {
		t.Fatalf("%s is not installed: install %s (e2e/setup-host.sh does)", Formats[format].Tool, Formats[format].Package)
	}
}

// testTree is a small extension: a binary, a unit, and its release file.
func testTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"usr/bin/hello":                         "#!/bin/sh\necho hello\n",
		"usr/lib/systemd/system/hello.service":  "[Service]\nExecStart=/usr/bin/hello\n",
		"opt/cni/bin/bridge":                    strings.Repeat("cni", 5000),
		ReleaseDir + "/extension-release.hello": "ID=_any\nARCHITECTURE=x86-64\n",
	}
	for p, content := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// listing is what the format's own tool sees in the image.
func listing(t *testing.T, format, image string) string {
	t.Helper()
	var cmd *exec.Cmd
	switch format {
	case "squashfs":
		cmd = exec.Command("unsquashfs", "-l", image)
	case "erofs":
		out := t.TempDir()
		cmd = exec.Command("fsck.erofs", "--extract="+out, image)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("fsck.erofs: %v\n%s", err, b)
		}
		var paths []string
		_ = filepath.Walk(out, func(p string, _ os.FileInfo, _ error) error {
			paths = append(paths, strings.TrimPrefix(p, out))
			return nil
		})
		return strings.Join(paths, "\n")
	}
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, b)
	}
	return string(b)
}

func TestWrite(t *testing.T) {
	for format := range Formats {
		t.Run(format, func(t *testing.T) {
			requireTool(t, format)
			tree := testTree(t)
			out := filepath.Join(t.TempDir(), "hello-v1-x86-64.raw")
			if err := Write(context.Background(), tree, out, Options{Name: "hello", Format: format, Seed: "s"}); err != nil {
				t.Fatal(err)
			}
			list := listing(t, format, out)
			for _, want := range []string{"usr/bin/hello", "opt/cni/bin/bridge", "extension-release.hello"} {
				if !strings.Contains(list, want) {
					t.Errorf("image lacks %s:\n%s", want, list)
				}
			}
			data, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(data)
			sums, err := os.ReadFile(filepath.Join(filepath.Dir(out), SumsFile))
			if err != nil {
				t.Fatal(err)
			}
			if want := hex.EncodeToString(sum[:]) + "  hello-v1-x86-64.raw\n"; string(sums) != want {
				t.Errorf("SHA256SUMS = %q, want %q", sums, want)
			}
		})
	}
}

// TestWriteReproducible: with a seed and an epoch, the image depends on the
// tree only, not on when or where it was built. SOURCE_DATE_EPOCH is set as
// in a build step given one, which mksquashfs refuses beside its flags.
func TestWriteReproducible(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	for format := range Formats {
		t.Run(format, func(t *testing.T) {
			requireTool(t, format)
			o := Options{Name: "hello", Format: format, Seed: "spec-digest", Epoch: time.Unix(1700000000, 0)}
			var images [][]byte
			for i := 0; i < 2; i++ {
				tree := testTree(t)
				// Different mtimes per build; the epoch must hide them.
				when := time.Now().Add(time.Duration(i) * time.Hour)
				if err := os.Chtimes(filepath.Join(tree, "usr/bin/hello"), when, when); err != nil {
					t.Fatal(err)
				}
				out := filepath.Join(t.TempDir(), "hello.raw")
				if err := Write(context.Background(), tree, out, o); err != nil {
					t.Fatal(err)
				}
				data, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				images = append(images, data)
			}
			if !bytes.Equal(images[0], images[1]) {
				t.Error("two builds of the same tree differ")
			}
		})
	}
}

func TestWriteRefusesBadTrees(t *testing.T) {
	requireTool(t, "squashfs")
	for _, tc := range []struct {
		name   string
		modify func(tree string) error
		want   string
	}{
		{"file in /etc", func(tree string) error {
			return os.MkdirAll(filepath.Join(tree, "etc"), 0o755)
		}, "tree has /etc: a system extension carries only /usr and /opt"},
		{"no release file", func(tree string) error {
			return os.Remove(filepath.Join(tree, ReleaseDir, "extension-release.hello"))
		}, "tree lacks /usr/lib/extension-release.d/extension-release.hello"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tree := testTree(t)
			if err := tc.modify(tree); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "hello.raw")
			err := Write(context.Background(), tree, out, Options{Name: "hello", Format: "squashfs"})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Error("an image was written anyway")
			}
		})
	}
	err := Write(context.Background(), testTree(t), filepath.Join(t.TempDir(), "x.raw"), Options{Name: "hello", Format: "ext4"})
	if err == nil || !strings.Contains(err.Error(), `unknown sysext format "ext4"`) {
		t.Fatalf("err = %v", err)
	}
}
