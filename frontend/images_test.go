package frontend

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/strata-dev/strata/layers/kubernetes"
	"github.com/strata-dev/strata/spec"
)

func imageArtifacts(t *testing.T, images ...spec.Image) map[string]kubernetes.Artifact {
	t.Helper()
	k := &spec.Kubernetes{Version: "v1.31.2", Containerd: "1.7.22", Runc: "1.1.14", Crictl: "1.31.1", CNI: "1.5.1",
		Source: "http://127.0.0.1:9", Images: images}
	out := map[string]kubernetes.Artifact{}
	for _, a := range kubernetes.Artifacts(k) {
		out[a.Name] = a
	}
	return out
}

// TestTreeFilesImages: an air-gapped build needs each image tarball and
// its checksum file at the place a mirror serves them.
func TestTreeFilesImages(t *testing.T) {
	arts := imageArtifacts(t, spec.Image{Name: "kube-proxy"},
		spec.Image{Name: "pause", URL: "https://images.example/k8s/pause-3.10.tar"},
		spec.Image{Name: "coredns", URL: "https://images.example/coredns.tar", SHA256: strings.Repeat("a", 64)})
	got := strings.Join(treeFiles([]kubernetes.Artifact{arts["image kube-proxy"], arts["image pause"], arts["image coredns"]}), "\n")
	want := strings.Join([]string{
		"release/v1.31.2/bin/linux/amd64/kube-proxy.tar",
		"release/v1.31.2/bin/linux/amd64/kube-proxy.tar.sha256",
		"k8s/pause-3.10.tar",
		"k8s/pause-3.10.tar.sha256",
		"coredns.tar", // pinned: no checksum file
	}, "\n")
	if got != want {
		t.Errorf("tree files:\n%s\nwant:\n%s", got, want)
	}
}

func TestVerifyImage(t *testing.T) {
	ctx := context.Background()
	proxyTar, pauseTar := []byte("kube-proxy image tarball"), []byte("pause image tarball")
	arts := imageArtifacts(t, spec.Image{Name: "kube-proxy"},
		spec.Image{Name: "pause", URL: "https://images.example/pause.tar", SHA256: sha(pauseTar).Encoded()})
	proxy, pause := arts["image kube-proxy"], arts["image pause"]
	good := func() *treeRef {
		return &treeRef{files: map[string][]byte{
			proxy.Path:         proxyTar,
			proxy.ChecksumPath: []byte(sha(proxyTar).Encoded()),
			pause.Path:         pauseTar,
		}}
	}
	for _, a := range []kubernetes.Artifact{proxy, pause} {
		if _, err := verifyArtifact(ctx, good(), a); err != nil {
			t.Errorf("%s: %v", a.Label(), err)
		}
	}

	ref := good()
	ref.files[proxy.Path] = append(bytes.Clone(proxyTar), 0)
	_, err := verifyArtifact(ctx, ref, proxy)
	want := "image kube-proxy v1.31.2: checksum mismatch for context kubernetes-artifacts:release/v1.31.2/bin/linux/amd64/kube-proxy.tar: " +
		"its checksum file release/v1.31.2/bin/linux/amd64/kube-proxy.tar.sha256 expects " + sha(proxyTar).String()
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("tampered kube-proxy: %v\nwant %q in it", err, want)
	}

	ref = good()
	ref.files[pause.Path] = proxyTar
	_, err = verifyArtifact(ctx, ref, pause)
	want = "image pause: checksum mismatch for context kubernetes-artifacts:pause.tar: the spec's pin kubernetes.images[1].sha256 expects " + sha(pauseTar).String()
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("tampered pause: %v\nwant %q in it", err, want)
	}
	if got := artifactField(pause); got != "kubernetes.images[1].sha256" {
		t.Errorf("a pinned image's errors point at %q", got)
	}
	if got := artifactField(proxy); got != "kubernetes.images[0]" {
		t.Errorf("an unpinned image's errors point at %q", got)
	}
}

func TestChecksumHint(t *testing.T) {
	arts := imageArtifacts(t, spec.Image{Name: "kube-proxy"}, spec.Image{Name: "pause", URL: "https://images.example/pause.tar"})
	for name, want := range map[string]string{
		"kubelet":          "check kubernetes.source and that the version is published",
		"image kube-proxy": "check kubernetes.source and that the version is published",
		"image pause":      "check that the checksum file is published beside the tarball, or pin kubernetes.images[1].sha256",
	} {
		if got := checksumHint(arts[name]); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
}
