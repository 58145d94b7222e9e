package node

import (
	"os"
	"path/filepath"
	"testing"

	digest "github.com/opencontainers/go-digest"
	"github.com/strata-dev/strata/layers/kubernetes"
)

// TestGoldenImages pins the Kubernetes graph of a node with pre-pulled
// images: the downloads, their placement and the import unit
// (go test ./layers/node -update rewrites it).
func TestGoldenImages(t *testing.T) {
	sp := loadSpecFile(t, "testdata/k8s-images.yaml", nil)
	digests := fakeDigests()
	for _, a := range kubernetes.Artifacts(sp.Image.Kubernetes) {
		if _, ok := digests[a.Name]; !ok {
			digests[a.Name] = digest.FromString("fake image " + a.Name)
		}
	}
	g := buildGraphWith(t, sp, digests)
	got := dumpGraph(t, *g.Kubernetes)
	path := filepath.Join("testdata", "kubernetes-images.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("graph differs from %s (go test ./layers/node -update to accept):\n%s", path, firstDiff(string(want), got))
	}

	// The images change the Kubernetes graph only.
	plain := buildGraph(t, loadSpecFile(t, "testdata/k8s-node.yaml", nil))
	if graphDigest(t, g.OS) != graphDigest(t, plain.OS) {
		t.Error("pre-pulled images changed the OS graph")
	}
}
