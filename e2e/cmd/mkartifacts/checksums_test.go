package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Digests of "abc", from FIPS 180 and RFC 3174's test vectors.
const (
	abcSHA1   = "a9993e364706816aba3e25717850c26c9cd0d89d"
	abcSHA256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	abcSHA512 = "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a" +
		"2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestChecksumFormats pins each project's format byte for byte.
func TestChecksumFormats(t *testing.T) {
	for _, tc := range []struct {
		project string
		name    string
		files   []checksumFile
		want    map[string]string // suffix -> exact content
	}{
		{"dl.k8s.io", "kubelet", kubeChecksums, map[string]string{
			".sha256": abcSHA256, // no newline
			".sha512": abcSHA512,
		}},
		{"containerd", "containerd-1.6.20-linux-amd64.tar.gz", containerdChecksums, map[string]string{
			".sha256sum": abcSHA256 + "  containerd-1.6.20-linux-amd64.tar.gz\n",
		}},
		{"cri-tools", "crictl-v1.36.0-linux-amd64.tar.gz", crictlChecksums, map[string]string{
			".sha256": abcSHA256 + "\n",
			".sha512": abcSHA512 + "\n",
		}},
		{"CNI plugins", "cni-plugins-linux-amd64-v1.1.1.tgz", cniChecksums, map[string]string{
			".sha1":   abcSHA1 + "  cni-plugins-linux-amd64-v1.1.1.tgz\n",
			".sha256": abcSHA256 + "  cni-plugins-linux-amd64-v1.1.1.tgz\n",
			".sha512": abcSHA512 + "  cni-plugins-linux-amd64-v1.1.1.tgz\n",
		}},
	} {
		t.Run(tc.project, func(t *testing.T) {
			dir := t.TempDir()
			artifact := filepath.Join(dir, tc.name)
			writeFile(t, artifact, "abc")
			if err := writeChecksums(artifact, tc.files); err != nil {
				t.Fatal(err)
			}
			if len(tc.want) != len(tc.files) {
				t.Fatalf("the table has %d checksum files, the test expects %d", len(tc.files), len(tc.want))
			}
			for suffix, want := range tc.want {
				if got := readFile(t, artifact+suffix); got != want {
					t.Errorf("%s%s = %q, want %q", tc.name, suffix, got, want)
				}
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 1+len(tc.want) {
				t.Errorf("%d files in the directory, want the artifact and %d checksum files (no temporaries)", len(entries), len(tc.want))
			}
		})
	}
}

func TestRuncSumFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "runc.amd64"), "abc")
	writeFile(t, filepath.Join(dir, "runc.tar.xz"), "")
	sums := filepath.Join(dir, "runc.sha256sum")
	if err := writeSumFile(sums, sha256Algo, []string{"runc.amd64", "runc.tar.xz"}); err != nil {
		t.Fatal(err)
	}
	want := abcSHA256 + "  runc.amd64\n" +
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  runc.tar.xz\n"
	if got := readFile(t, sums); got != want {
		t.Errorf("runc.sha256sum = %q, want %q", got, want)
	}
	if err := writeSumFile(sums, sha256Algo, []string{"runc.arm64"}); err == nil {
		t.Error("listing a missing file succeeded")
	}
}

// TestSumLinesPassCoreutils has the real sha256sum check what the
// sha256sum-style writers produce, where the tool is installed.
func TestSumLinesPassCoreutils(t *testing.T) {
	tool, err := exec.LookPath("sha256sum")
	if err != nil {
		t.Skip("sha256sum not installed")
	}
	dir := t.TempDir()
	name := "containerd-1.6.20-linux-amd64.tar.gz"
	writeFile(t, filepath.Join(dir, name), "some bytes")
	if err := writeChecksums(filepath.Join(dir, name), containerdChecksums); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tool, "--check", "--strict", name+".sha256sum")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("sha256sum --check: %v\n%s", err, out)
	}
}

func TestVerifyChecksumFileCatchesTampering(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name  string
		files []checksumFile
	}{
		{"kubelet", kubeChecksums},
		{"x.tgz", cniChecksums},
		{"y.tar.gz", crictlChecksums},
	} {
		p := filepath.Join(dir, tc.name)
		writeFile(t, p, "real")
		if err := writeChecksums(p, tc.files); err != nil {
			t.Fatal(err)
		}
		for _, c := range tc.files {
			if _, err := verifyChecksumFile(p + c.Suffix); err != nil {
				t.Errorf("%s%s: %v", tc.name, c.Suffix, err)
			}
		}
		writeFile(t, p, "fake")
		for _, c := range tc.files {
			if _, err := verifyChecksumFile(p + c.Suffix); err == nil || !strings.Contains(err.Error(), "mismatch") {
				t.Errorf("%s%s after tampering: %v, want a mismatch", tc.name, c.Suffix, err)
			}
		}
	}
}
