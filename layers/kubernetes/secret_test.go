package kubernetes

import (
	"strings"
	"testing"

	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"
	"github.com/strata-dev/strata/spec"
)

// secretSpec has downloads below kubernetes.source and elsewhere: a
// kubelet override on another host, one below a look-alike path, and a
// tarball image on a third host.
func secretSpec(secret string) *spec.Kubernetes {
	k := testKubernetes()
	k.Source = "https://mirror.example/k8s/"
	k.SourceSecret = secret
	k.Artifacts = &spec.Artifacts{
		Kubelet: spec.Artifact{URL: "https://other.example/kubelet"},
		Kubeadm: spec.Artifact{URL: "https://mirror.example/k8s-other/kubeadm"},
	}
	k.Images = []spec.Image{{Name: "kube-proxy"}, {Name: "pause", URL: "https://images.example/pause.tar"}}
	return k
}

func TestArtifactSecretOnlyBelowSource(t *testing.T) {
	want := map[string]string{
		"containerd": "mirror", "runc": "mirror", "crictl": "mirror", "cni": "mirror", "kubectl": "mirror",
		"image kube-proxy": "mirror",
		"kubelet":          "", "kubeadm": "", "image pause": "",
	}
	arts := Artifacts(secretSpec("mirror"))
	for _, a := range arts {
		w, ok := want[a.Name]
		if !ok {
			t.Errorf("unexpected artifact %s", a.Name)
			continue
		}
		if a.Secret != w {
			t.Errorf("%s (%s): secret %q, want %q", a.Name, a.URL, a.Secret, w)
		}
	}
	if len(arts) != len(want) {
		t.Errorf("%d artifacts, want %d", len(arts), len(want))
	}
	for _, a := range Artifacts(secretSpec("")) {
		if a.Secret != "" {
			t.Errorf("%s: secret %q without kubernetes.sourceSecret", a.Name, a.Secret)
		}
	}
}

// TestDownloadsCarrySecretID: the layer's HTTP sources name the secret by
// ID (pb.AttrHTTPAuthHeaderSecret), which BuildKit asks the client for at
// download time; the graph holds nothing else of it, so its value changes
// no digest.
func TestDownloadsCarrySecretID(t *testing.T) {
	k := secretSpec("mirror")
	digests := map[string]digest.Digest{}
	for _, a := range Artifacts(k) {
		digests[a.Name] = digest.FromString(a.Name)
	}
	layer, err := Build(Input{Kubernetes: k, Digests: digests, KubeletEnvFile: "/etc/default/kubelet"})
	if err != nil {
		t.Fatal(err)
	}
	ops, _ := graphOps(t, layer.Tree())
	seen := 0
	for _, op := range ops {
		src := op.GetSource()
		if src == nil || !strings.HasPrefix(src.Identifier, "https://") {
			continue
		}
		seen++
		below := strings.HasPrefix(src.Identifier, "https://mirror.example/k8s/")
		got, set := src.Attrs[pb.AttrHTTPAuthHeaderSecret]
		switch {
		case below && got != "mirror":
			t.Errorf("%s: auth secret %q, want mirror", src.Identifier, got)
		case !below && set:
			t.Errorf("%s: the mirror's secret %q goes to another host", src.Identifier, got)
		}
	}
	if seen != 9 {
		t.Errorf("%d downloads, want 9", seen)
	}
}
