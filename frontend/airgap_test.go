package frontend

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"testing"

	gwclient "github.com/moby/buildkit/frontend/gateway/client"
	digest "github.com/opencontainers/go-digest"
	"github.com/strata-dev/strata/layers/kubernetes"
	"github.com/strata-dev/strata/spec"
	fstypes "github.com/tonistiigi/fsutil/types"
)

// treeRef is a solved release tree in memory. It answers ranged reads the
// way the gateway does and records the largest one.
type treeRef struct {
	gwclient.Reference
	files   map[string][]byte
	dirs    map[string]bool
	maxRead int
	reads   int
}

func (r *treeRef) StatFile(_ context.Context, req gwclient.StatRequest) (*fstypes.Stat, error) {
	if r.dirs[req.Path] {
		return &fstypes.Stat{Path: req.Path, Mode: uint32(fs.ModeDir | 0o755)}, nil
	}
	data, ok := r.files[req.Path]
	if !ok {
		// What arrives through the gateway: the text, not the errno.
		return nil, fmt.Errorf("rpc error: code = Unknown desc = lstat %s: no such file or directory", req.Path)
	}
	return &fstypes.Stat{Path: req.Path, Mode: 0o644, Size: int64(len(data))}, nil
}

func (r *treeRef) ReadFile(_ context.Context, req gwclient.ReadRequest) ([]byte, error) {
	data, ok := r.files[req.Filename]
	if !ok {
		return nil, fmt.Errorf("open %s: no such file or directory", req.Filename)
	}
	r.reads++
	if req.Range != nil {
		start := min(req.Range.Offset, len(data))
		data = data[start:min(start+req.Range.Length, len(data))]
	}
	r.maxRead = max(r.maxRead, len(data))
	return bytes.Clone(data), nil
}

func sha(data []byte) digest.Digest { return digest.FromBytes(data) }

func TestRefReaderStreamsInChunks(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), (2*hashChunk+5)/16+1) // over two chunks, not a multiple
	ref := &treeRef{files: map[string][]byte{"big": data}}
	got, err := hashReader(&refReader{ctx: context.Background(), ref: ref, path: "big"})
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("sha256:%x", sha256.Sum256(data)); got.String() != want {
		t.Errorf("digest %s, want %s", got, want)
	}
	if ref.maxRead > hashChunk || ref.reads < 3 {
		t.Errorf("%d reads, the largest %d bytes: want chunks of at most %d", ref.reads, ref.maxRead, hashChunk)
	}

	empty := &treeRef{files: map[string][]byte{"empty": nil}}
	if got, err := hashReader(&refReader{ctx: context.Background(), ref: empty, path: "empty"}); err != nil || got != sha(nil) {
		t.Errorf("empty file: %s, %v", got, err)
	}
	if _, err := io.ReadAll(&refReader{ctx: context.Background(), ref: empty, path: "gone"}); err == nil {
		t.Error("reading a missing file: no error")
	}
}

func testArtifacts(t *testing.T, pins *spec.Artifacts) map[string]kubernetes.Artifact {
	t.Helper()
	k := &spec.Kubernetes{Version: "v1.31.2", Containerd: "1.7.22", Runc: "1.1.14", Crictl: "1.31.1", CNI: "1.5.1",
		Source: "http://127.0.0.1:9", Artifacts: pins}
	out := map[string]kubernetes.Artifact{}
	for _, a := range kubernetes.Artifacts(k) {
		out[a.Name] = a
	}
	return out
}

func TestTreeFiles(t *testing.T) {
	k := &spec.Kubernetes{Version: "v1.31.2", Containerd: "1.7.22", Runc: "1.1.14", Crictl: "1.31.1", CNI: "1.5.1",
		Artifacts: &spec.Artifacts{Kubectl: spec.Artifact{SHA256: strings.Repeat("a", 64)}}}
	got := strings.Join(treeFiles(kubernetes.Artifacts(k)), "\n")
	want := strings.Join([]string{
		"containerd/containerd/releases/download/v1.7.22/containerd-1.7.22-linux-amd64.tar.gz",
		"containerd/containerd/releases/download/v1.7.22/containerd-1.7.22-linux-amd64.tar.gz.sha256sum",
		"opencontainers/runc/releases/download/v1.1.14/runc.amd64",
		"opencontainers/runc/releases/download/v1.1.14/runc.sha256sum",
		"kubernetes-sigs/cri-tools/releases/download/v1.31.1/crictl-v1.31.1-linux-amd64.tar.gz",
		"kubernetes-sigs/cri-tools/releases/download/v1.31.1/crictl-v1.31.1-linux-amd64.tar.gz.sha256",
		"containernetworking/plugins/releases/download/v1.5.1/cni-plugins-linux-amd64-v1.5.1.tgz",
		"containernetworking/plugins/releases/download/v1.5.1/cni-plugins-linux-amd64-v1.5.1.tgz.sha256",
		"release/v1.31.2/bin/linux/amd64/kubelet",
		"release/v1.31.2/bin/linux/amd64/kubelet.sha256",
		"release/v1.31.2/bin/linux/amd64/kubeadm",
		"release/v1.31.2/bin/linux/amd64/kubeadm.sha256",
		"release/v1.31.2/bin/linux/amd64/kubectl", // pinned: no checksum file
	}, "\n")
	if got != want {
		t.Errorf("tree files:\n%s\nwant:\n%s", got, want)
	}
}

func TestVerifyArtifact(t *testing.T) {
	ctx := context.Background()
	kubelet, runc := []byte("kubelet bytes"), []byte("runc bytes")
	other := []byte("other bytes")
	arts := testArtifacts(t, nil)
	kl, rc := arts["kubelet"], arts["runc"]
	good := func() *treeRef {
		return &treeRef{files: map[string][]byte{
			kl.Path:         kubelet,
			kl.ChecksumPath: []byte(sha(kubelet).Encoded() + "\n"),
			rc.Path:         runc,
			// runc's one file for all its assets, in sha256sum format.
			rc.ChecksumPath: []byte(sha(other).Encoded() + "  runc.arm64\n" + sha(runc).Encoded() + "  runc.amd64\n"),
		}}
	}

	t.Run("ok", func(t *testing.T) {
		for _, a := range []kubernetes.Artifact{kl, rc} {
			got, err := verifyArtifact(ctx, good(), a)
			if err != nil || got != sha(map[string][]byte{"kubelet": kubelet, "runc": runc}[a.Name]) {
				t.Errorf("%s: %s, %v", a.Name, got, err)
			}
		}
	})
	t.Run("tampered", func(t *testing.T) {
		ref := good()
		ref.files[kl.Path] = append(bytes.Clone(kubelet), '!')
		_, err := verifyArtifact(ctx, ref, kl)
		for _, want := range []string{"kubelet v1.31.2", "context kubernetes-artifacts:" + kl.Path,
			"its checksum file " + kl.ChecksumPath + " expects " + sha(kubelet).String(), "the file has " + sha(ref.files[kl.Path]).String()} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("err = %v, want %q in it", err, want)
			}
		}
	})
	t.Run("pin wins", func(t *testing.T) {
		pinned := testArtifacts(t, &spec.Artifacts{Kubelet: spec.Artifact{SHA256: strings.ToUpper(sha(other).Encoded())}})["kubelet"]
		ref := good()
		delete(ref.files, kl.ChecksumPath) // a pin needs no checksum file
		_, err := verifyArtifact(ctx, ref, pinned)
		if err == nil || !strings.Contains(err.Error(), "the spec's pin kubernetes.artifacts.kubelet.sha256 expects "+sha(other).String()) {
			t.Errorf("err = %v", err)
		}
		ref.files[kl.Path] = other
		if got, err := verifyArtifact(ctx, ref, pinned); err != nil || got != sha(other) {
			t.Errorf("matching pin: %s, %v", got, err)
		}
	})
	for name, change := range map[string]func(*treeRef){
		"missing artifact":      func(r *treeRef) { delete(r.files, kl.Path) },
		"missing checksum file": func(r *treeRef) { delete(r.files, kl.ChecksumPath) },
	} {
		t.Run(name, func(t *testing.T) {
			ref := good()
			change(ref)
			_, err := verifyArtifact(ctx, ref, kl)
			for _, want := range []string{"kubelet v1.31.2: context kubernetes-artifacts has no release/v1.31.2/bin/linux/amd64/kubelet", "docs/kubernetes.md"} {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("err = %v, want %q in it", err, want)
				}
			}
		})
	}
	t.Run("directory in place of a file", func(t *testing.T) {
		ref := good()
		delete(ref.files, kl.Path)
		ref.dirs = map[string]bool{kl.Path: true}
		if _, err := verifyArtifact(ctx, ref, kl); err == nil || !strings.Contains(err.Error(), kl.Path+" is not a regular file") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("bad checksum file", func(t *testing.T) {
		ref := good()
		ref.files[kl.ChecksumPath] = []byte("<html>404</html>")
		if _, err := verifyArtifact(ctx, ref, kl); err == nil || !strings.Contains(err.Error(), "checksum file "+kl.ChecksumPath+" in context kubernetes-artifacts: line 1 is in an unexpected format") {
			t.Errorf("err = %v", err)
		}
	})
}
