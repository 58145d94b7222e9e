package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-dev/strata/e2e/releaseserver"
)

// Pre-pulled images (kubernetes.images): the fixture's kube-proxy.tar, a
// release image fetched beside the binaries, and its pause image, a tarball
// given by URL. See e2e/cmd/mkartifacts/images.go for what they hold.

const imagesSpec = "e2e/testdata/k8s-images.yaml"

// pauseAnchor is the pause entry as the spec file writes it; the tests put
// the fixture's URL in its place.
const pauseAnchor = `    - {name: pause, url: "http://127.0.0.1:8080/e2e-images/pause-3.10.tar"}` + "\n"

// imagesSpecFor writes the images spec with the pause tarball at base (a
// server URL, or the dead source for air-gapped builds).
func imagesSpecFor(t testing.TB, r *release, base string) (string, error) {
	data, err := os.ReadFile(filepath.Join(env.repo, imagesSpec))
	if err != nil {
		return "", err
	}
	if !strings.Contains(string(data), pauseAnchor) {
		return "", fmt.Errorf("%s lacks the line %q", imagesSpec, pauseAnchor)
	}
	entry := fmt.Sprintf("    - {name: pause, url: %q}\n", base+r.PausePath)
	dir := env.workDir
	if t != nil {
		dir = t.TempDir()
	}
	p := filepath.Join(dir, "k8s-images.yaml")
	return p, os.WriteFile(p, []byte(strings.Replace(string(data), pauseAnchor, entry, 1)), 0o644)
}

// imagesArgs are the fixture's versions and source, and its pause image
// as the sandbox image containerd pins.
func imagesArgs(r *release, source string) []string {
	return append(versionArgs(r, source), "--build-arg", "KUBERNETES_SANDBOX_IMAGE="+r.PauseImage)
}

// imagesDisk builds the node with pre-pulled images once.
var imagesDisk = sync.OnceValues(func() (string, error) {
	r, err := k8sRelease()
	if err != nil {
		return "", err
	}
	srv, err := k8sMirror()
	if err != nil {
		return "", err
	}
	spec, err := imagesSpecFor(nil, r, srv.URL())
	if err != nil {
		return "", err
	}
	out := filepath.Join(env.workDir, "k8s-images")
	log, err := strataBuild(spec, "disk", out, imagesArgs(r, srv.URL())...)
	if err != nil {
		return "", fmt.Errorf("strata build: %w\n%s", err, tail(log, 120))
	}
	return filepath.Join(out, "disk.raw"), nil
})

// TestKubernetesImagesBoot boots the node: the import unit ran and ended
// before kubelet started, containerd and CRI list the images under the
// names kubeadm and the sandbox pin use, a pod sandbox starts from the
// pause image, and kube-proxy runs from its image, all without a registry.
func TestKubernetesImagesBoot(t *testing.T) {
	r, _ := requireRelease(t)
	disk, err := imagesDisk()
	if err != nil {
		t.Fatal(err)
	}
	kubeadmProxy := "registry.k8s.io/kube-proxy:" + r.Kubernetes
	bootAndExpect(t, disk, "k8s-images-console.log", []string{
		"strata-import-images: " + kubeadmProxy + " ready",
		"images-check ok: strata-import-images active",
		"images-check ok: import finished before kubelet started",
		"images-check ctr: registry.k8s.io/kube-proxy-amd64:" + r.Kubernetes,
		"images-check ctr: " + kubeadmProxy,
		"images-check ctr: " + r.PauseImage,
		"images-check crictl: " + kubeadmProxy,
		"images-check crictl: " + r.PauseImage,
		"images-check ok: pod sandbox runs from the pinned pause image",
		"images-check kube-proxy says: Kubernetes " + r.Kubernetes,
		"images-check done",
	}, []string{"images-check FAILED", "Failed to start strata-import-images"})
}

// TestKubernetesImageTamperedFails: the mirror publishes a checksum for
// kube-proxy.tar that its bytes do not have. The build fails naming the
// image and its URL, and exports nothing.
func TestKubernetesImageTamperedFails(t *testing.T) {
	r, _ := requireRelease(t)
	tarPath := strings.TrimPrefix(releaseserver.Release{Kubernetes: r.Kubernetes}.KubeBinary("kube-proxy.tar"), "/")
	// A checksum no build has fetched content for, so BuildKit's
	// content-addressed cache cannot answer and the bytes are fetched.
	claimed := fmt.Sprintf("%064x", time.Now().UnixNano())
	srv, err := releaseserver.Start(r.Dir, releaseserver.Options{Tamper: map[string][]byte{
		tarPath + ".sha256": []byte(claimed),
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	spec, err := imagesSpecFor(t, r, srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	log, err := strataBuild(spec, "disk", out, imagesArgs(r, srv.URL())...)
	if err == nil {
		t.Fatalf("a build with a tampered kube-proxy.tar succeeded:\n%s", tail(log, 60))
	}
	t.Logf("the build failed:\n%s", tail(log, 12))
	for _, want := range []string{"fetch image kube-proxy " + r.Kubernetes + " from " + srv.URL() + "/" + tarPath, "sha256:" + claimed} {
		if !strings.Contains(log, want) {
			t.Errorf("output lacks %q:\n%s", want, tail(log, 60))
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a failed build exported %s", out)
	}
}

// TestAirgapImages: with the kubernetes-artifacts context, the tarballs
// come from the tree, release image and URL image alike, verified and
// placed byte for byte; nothing is fetched.
func TestAirgapImages(t *testing.T) {
	r, paths := requireAirgapRelease(t)
	spec, err := imagesSpecFor(t, r, "https://images.invalid")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "rootfs")
	log, err := strataBuild(spec, "rootfs", out, append(imagesArgs(r, deadSource), "--build-context", "kubernetes-artifacts="+r.Dir)...)
	if err != nil {
		t.Fatalf("air-gapped build: %v\n%s", err, tail(log, 80))
	}
	for inRootfs, inTree := range map[string]string{
		"usr/lib/strata/images/kube-proxy.tar": paths.KubeBinary("kube-proxy.tar"),
		"usr/lib/strata/images/pause.tar":      r.PausePath,
	} {
		fi, err := os.Stat(filepath.Join(out, inRootfs))
		if err != nil {
			t.Errorf("rootfs: %v", err)
			continue
		}
		if fi.Mode().Perm() != 0o644 {
			t.Errorf("rootfs: %s has mode %s, want 0644", inRootfs, fi.Mode())
		}
		if got, want := fileSHA256(t, filepath.Join(out, inRootfs)), fileSHA256(t, filepath.Join(r.Dir, inTree)); got != want {
			t.Errorf("rootfs: %s is sha256:%s, the fixture's %s is sha256:%s", inRootfs, got, inTree, want)
		}
	}
	script, err := os.ReadFile(filepath.Join(out, "usr/lib/strata/import-images"))
	if err != nil {
		t.Fatal(err)
	}
	wantLine := "release kube-proxy.tar registry.k8s.io/kube-proxy-amd64:" + r.Kubernetes + " registry.k8s.io/kube-proxy:" + r.Kubernetes + "\n"
	if !strings.Contains(string(script), wantLine) || !strings.Contains(string(script), "\nload pause.tar\n") {
		t.Errorf("import script lacks %q or the pause import:\n%s", wantLine, script)
	}
	for _, want := range []string{
		"place image kube-proxy " + r.Kubernetes + " from context kubernetes-artifacts:" + strings.TrimPrefix(paths.KubeBinary("kube-proxy.tar"), "/"),
		"place image pause from context kubernetes-artifacts:" + strings.TrimPrefix(r.PausePath, "/"),
	} {
		if !strings.Contains(log, want) {
			t.Errorf("output lacks %q:\n%s", want, tail(log, 80))
		}
	}
	for _, unwanted := range []string{"[kubernetes] fetch", deadSource, "images.invalid/"} {
		if strings.Contains(log, unwanted) {
			t.Errorf("output has %q: an air-gapped build reached for the network:\n%s", unwanted, tail(log, 80))
		}
	}
}
