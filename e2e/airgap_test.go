package e2e

import (
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-dev/strata/e2e/releaseserver"
)

// Air-gapped builds take every Kubernetes artifact from the
// kubernetes-artifacts build context. These tests point kubernetes.source at
// a port nobody listens on, so any fetch would fail the build: a passing
// build proves the network was not touched.
const deadSource = "http://127.0.0.1:9"

// airgapArgs are the fixture's versions, a dead source, and tree as the
// kubernetes-artifacts context.
func airgapArgs(r *release, tree string) []string {
	return append(versionArgs(r, deadSource), "--build-context", "kubernetes-artifacts="+tree)
}

func requireAirgapRelease(t *testing.T) (*release, releaseserver.Release) {
	t.Helper()
	requireE2E(t)
	r, err := k8sRelease()
	if err != nil {
		t.Fatal(err)
	}
	return r, releaseserver.Release{Kubernetes: r.Kubernetes, Containerd: r.Containerd, Runc: r.Runc, Crictl: r.Crictl, CNI: r.CNI}
}

func TestAirgapBuildFromContext(t *testing.T) {
	r, paths := requireAirgapRelease(t)
	out := filepath.Join(t.TempDir(), "rootfs")
	log, err := strataBuild(k8sSpec, "rootfs", out, airgapArgs(r, r.Dir)...)
	if err != nil {
		t.Fatalf("air-gapped build: %v\n%s", err, tail(log, 80))
	}
	t.Log(lastLine(log))

	installed := map[string]string{ // in the rootfs -> in the fixture, for binaries installed as they are
		"usr/bin/kubelet":          paths.KubeBinary("kubelet"),
		"usr/bin/kubeadm":          paths.KubeBinary("kubeadm"),
		"usr/bin/kubectl":          paths.KubeBinary("kubectl"),
		"usr/local/sbin/runc":      paths.RuncBinary(),
		"usr/local/bin/containerd": "",
		"usr/local/bin/crictl":     "",
		"opt/cni/bin/bridge":       "",
	}
	for file, fixture := range installed {
		fi, err := os.Stat(filepath.Join(out, file))
		if err != nil {
			t.Errorf("rootfs: %v", err)
			continue
		}
		if !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o755 {
			t.Errorf("rootfs: %s has mode %s, want an 0755 file", file, fi.Mode())
		}
		if fixture != "" {
			if got, want := fileSHA256(t, filepath.Join(out, file)), fileSHA256(t, filepath.Join(r.Dir, fixture)); got != want {
				t.Errorf("rootfs: %s is sha256:%s, the fixture's %s is sha256:%s", file, got, fixture, want)
			}
		}
	}
	if got, err := os.ReadFile(filepath.Join(out, "etc/kubernetes-version")); err != nil || strings.TrimSpace(string(got)) != r.Kubernetes {
		t.Errorf("rootfs /etc/kubernetes-version: %q, %v", got, err)
	}

	// The progress shows where each artifact came from, and no download.
	for _, want := range []string{
		"install kubelet " + r.Kubernetes + " from context kubernetes-artifacts:" + strings.TrimPrefix(paths.KubeBinary("kubelet"), "/"),
		"install containerd " + r.Containerd + " from context kubernetes-artifacts:" + strings.TrimPrefix(paths.ContainerdTarball(), "/"),
	} {
		if !strings.Contains(log, want) {
			t.Errorf("output lacks %q:\n%s", want, tail(log, 80))
		}
	}
	for _, unwanted := range []string{"[kubernetes] fetch", deadSource} {
		if strings.Contains(log, unwanted) {
			t.Errorf("output has %q: an air-gapped build reached for the network:\n%s", unwanted, tail(log, 80))
		}
	}
}

// TestAirgapTamperedArtifactFails: kubeadm in the context does not match its
// checksum file. The build fails before any layer is built, naming kubeadm,
// its path, both digests and the spec line, and exports nothing.
func TestAirgapTamperedArtifactFails(t *testing.T) {
	r, paths := requireAirgapRelease(t)
	kubeadm := strings.TrimPrefix(paths.KubeBinary("kubeadm"), "/")
	tree := linkTree(t, r.Dir, kubeadm)
	tampered := filepath.Join(tree, kubeadm)
	copyFile(t, filepath.Join(r.Dir, kubeadm), tampered)
	f, err := os.OpenFile(tampered, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte{0}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	published, err := os.ReadFile(filepath.Join(r.Dir, kubeadm+".sha256"))
	if err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(t.TempDir(), "out")
	log, err := strataBuild(k8sSpec, "rootfs", out, airgapArgs(r, tree)...)
	if err == nil {
		t.Fatalf("a build with a tampered kubeadm succeeded:\n%s", tail(log, 60))
	}
	for _, want := range []string{
		"kubernetes.version: kubeadm " + r.Kubernetes + ": checksum mismatch for context kubernetes-artifacts:" + kubeadm,
		"its checksum file " + kubeadm + ".sha256 expects sha256:" + strings.TrimSpace(string(published)),
		"the file has sha256:" + fileSHA256(t, tampered),
		">>>   version: ",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("output lacks %q:\n%s", want, tail(log, 60))
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a failed build exported %s", out)
	}
}

// TestAirgapMissingFileFails: a context without the CNI tarball fails
// naming the file and the layout it must have.
func TestAirgapMissingFileFails(t *testing.T) {
	r, paths := requireAirgapRelease(t)
	cni := strings.TrimPrefix(paths.CNITarball(), "/")
	tree := linkTree(t, r.Dir, cni)

	out := filepath.Join(t.TempDir(), "out")
	log, err := strataBuild(k8sSpec, "rootfs", out, airgapArgs(r, tree)...)
	if err == nil {
		t.Fatalf("a build without the CNI tarball succeeded:\n%s", tail(log, 60))
	}
	for _, want := range []string{
		"kubernetes.cni: cni " + r.CNI + ": context kubernetes-artifacts has no " + cni,
		"at its upstream path with the host dropped",
		"docs/kubernetes.md",
		">>>   cni: ",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("output lacks %q:\n%s", want, tail(log, 60))
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a failed build exported %s", out)
	}
}

// linkTree copies the release tree src into a temporary directory with hard
// links, cheap for its hundreds of megabytes, leaving out the paths in skip.
// A file to be modified must be skipped and written anew: a change through a
// link would reach the shared fixture.
func linkTree(t *testing.T, src string, skip ...string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "tree")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		for _, s := range skip {
			if rel == filepath.FromSlash(s) {
				return nil
			}
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		return os.Link(p, filepath.Join(dst, rel))
	})
	if err != nil {
		t.Fatalf("linking the release tree: %v", err)
	}
	return dst
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func fileSHA256(t *testing.T, p string) string {
	t.Helper()
	sum, err := sha256File(p)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// sha256File is the hex sha256 of the file at path.
func sha256File(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return fmt.Sprintf("%x", h.Sum(nil)), nil
}
