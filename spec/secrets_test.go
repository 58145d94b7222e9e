package spec

import (
	"strings"
	"testing"
)

func TestSecretIDErrors(t *testing.T) {
	k8s := "kubernetes:\n  version: v1.31.2\n" + k8sPinsBlock
	runErrorCases(t, []errorCase{
		{
			name: "package secret with a comma",
			doc:  header + "os:\n  packageSecret: apt,src=/etc/passwd\n",
			want: `node.yaml:5:3: os.packageSecret: invalid secret ID "apt,src=/etc/passwd"; use up to 128 letters, digits, '.', '_' and '-', starting with a letter or digit, and pass the secret with --secret id=ID,src=FILE`,
		},
		{
			name: "source secret starting with a dot",
			doc:  header + k8s + "  source: https://mirror.example/k8s\n  sourceSecret: .mirror\n",
			want: `node.yaml:11:3: kubernetes.sourceSecret: invalid secret ID ".mirror"; use up to 128 letters, digits, '.', '_' and '-', starting with a letter or digit, and pass the secret with --secret id=ID,src=FILE`,
		},
		{
			name: "secret ID too long",
			doc:  header + "os:\n  packageSecret: " + strings.Repeat("a", 129) + "\n",
			want: `node.yaml:5:3: os.packageSecret: invalid secret ID "` + strings.Repeat("a", 129) + `"; use up to 128 letters, digits, '.', '_' and '-', starting with a letter or digit, and pass the secret with --secret id=ID,src=FILE`,
		},
		{
			name: "source secret without a source",
			doc:  header + k8s + "  sourceSecret: mirror\n",
			want: `node.yaml:10:3: kubernetes.sourceSecret: only applies to downloads below kubernetes.source, and none is set; set kubernetes.source to the mirror's URL (the header is never sent to dl.k8s.io or github.com)`,
		},
	})
}

func TestSecretIDBuildArg(t *testing.T) {
	doc := header + "os:\n  packageSecret: apt\n"
	_, err := Load("node.yaml", []byte(doc), map[string]string{"OS_PACKAGE_SECRET": "a b"}, testDistros)
	want := `node.yaml:5:3: os.packageSecret: invalid secret ID "a b"; use up to 128 letters, digits, '.', '_' and '-', starting with a letter or digit, and pass the secret with --secret id=ID,src=FILE (set by build arg OS_PACKAGE_SECRET)`
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

// TestSecretIDsAccepted: the IDs BuildKit's own conventions use (the
// per-host HTTP_AUTH_HEADER_<host> secret) and plain names load.
func TestSecretIDsAccepted(t *testing.T) {
	for _, id := range []string{"apt", "apt-mirror.v2", "HTTP_AUTH_HEADER_mirror.example.com", "0"} {
		doc := header + "os:\n  packageSecret: " + id + "\nkubernetes:\n  version: v1.31.2\n" + k8sPinsBlock +
			"  source: https://mirror.example/k8s\n  sourceSecret: " + id + "\n"
		s, err := Load("node.yaml", []byte(doc), nil, testDistros)
		if err != nil {
			t.Errorf("%s: %v", id, err)
			continue
		}
		if s.Image.OS.PackageSecret != id || s.Image.Kubernetes.SourceSecret != id {
			t.Errorf("%s: loaded as %q and %q", id, s.Image.OS.PackageSecret, s.Image.Kubernetes.SourceSecret)
		}
	}
}
