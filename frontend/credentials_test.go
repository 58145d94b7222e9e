package frontend

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/moby/buildkit/solver/pb"
	"github.com/strata-dev/strata/layers/kubernetes"
	"github.com/strata-dev/strata/spec"
)

func secretArtifacts(secret string) map[string]kubernetes.Artifact {
	k := &spec.Kubernetes{Version: "v1.31.2", Containerd: "1.7.22", Runc: "1.1.14", Crictl: "1.31.1", CNI: "1.5.1",
		Source: "http://127.0.0.1:9", SourceSecret: secret,
		Artifacts: &spec.Artifacts{Runc: spec.Artifact{URL: "https://other.example/runc.amd64"}}}
	out := map[string]kubernetes.Artifact{}
	for _, a := range kubernetes.Artifacts(k) {
		out[a.Name] = a
	}
	return out
}

// TestChecksumSourceSecret: a checksum file comes from the artifact's
// mirror with the artifact's secret, and one from another host without.
func TestChecksumSourceSecret(t *testing.T) {
	arts := secretArtifacts("mirror")
	for name, want := range map[string]string{"kubelet": "mirror", "containerd": "mirror", "runc": ""} {
		def, err := checksumSource(arts[name], "checksum").Marshal(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var op pb.Op
		if err := op.UnmarshalVT(def.Def[0]); err != nil {
			t.Fatal(err)
		}
		src := op.GetSource()
		if src.GetIdentifier() != arts[name].ChecksumURL {
			t.Errorf("%s: fetches %s, want %s", name, src.GetIdentifier(), arts[name].ChecksumURL)
		}
		if got := src.GetAttrs()[pb.AttrHTTPAuthHeaderSecret]; got != want {
			t.Errorf("%s: checksum file's auth secret %q, want %q", name, got, want)
		}
	}
}

// TestSecretProblem: BuildKit's errors for a secret the client did not
// send, and a mirror's refusal, are blamed on the field to change and say
// what to do; other errors are left to the usual hint.
func TestSecretProblem(t *testing.T) {
	with, without := secretArtifacts("mirror")["kubelet"], secretArtifacts("")["kubelet"]
	tests := []struct {
		name      string
		a         kubernetes.Artifact
		err       string
		field     string
		hintParts []string
	}{
		{"secret not sent", with, `failed to load cache key: failed to retrieve HTTP auth secret mirror: secret mirror: not found`,
			"kubernetes.sourceSecret", []string{`not given the secret "mirror"`, "--secret id=mirror,env=VAR", "--secret id=mirror,src=FILE"}},
		{"wrong value", with, "failed to load cache key: invalid response status 401",
			"kubernetes.sourceSecret", []string{`refused the Authorization header from the secret "mirror"`}},
		{"forbidden", with, "invalid response status 403", "kubernetes.sourceSecret", []string{"check its value"}},
		{"no secret set", without, "failed to load cache key: invalid response status 401",
			"kubernetes.source", []string{"set kubernetes.sourceSecret"}},
	}
	for _, tt := range tests {
		field, hint, ok := secretProblem(tt.a, errors.New(tt.err))
		if !ok || field != tt.field {
			t.Errorf("%s: field %q ok %v, want %q", tt.name, field, ok, tt.field)
		}
		for _, p := range tt.hintParts {
			if !strings.Contains(hint, p) {
				t.Errorf("%s: hint %q lacks %q", tt.name, hint, p)
			}
		}
	}
	for _, err := range []string{"invalid response status 404", "dial tcp 127.0.0.1:9: connect: connection refused", "secret other: not found"} {
		if _, _, ok := secretProblem(with, errors.New(err)); ok {
			t.Errorf("%q taken for a credentials problem", err)
		}
	}
}

func TestBaseImageHint(t *testing.T) {
	denied := errors.New("unexpected status from HEAD request to http://localhost:5000/v2/base/manifests/sha256:abc: 401 Unauthorized")
	if got, want := baseImageHint("localhost:5000/base@sha256:"+strings.Repeat("a", 64), denied), "log in with docker login localhost:5000 "; !strings.Contains(got, want) {
		t.Errorf("hint %q lacks %q", got, want)
	}
	if got := baseImageHint("debian:12", errors.New("pull access denied: 403 Forbidden")); !strings.Contains(got, "docker login docker.io") {
		t.Errorf("a Docker Hub image: %q", got)
	}
	if got := baseImageHint("localhost:5000/base", errors.New("dial tcp: connection refused")); !strings.Contains(got, "check the reference") {
		t.Errorf("an unreachable registry: %q", got)
	}
}
