package node

import (
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
	compareGolden(t, filepath.Join("testdata", "kubernetes-images.golden"), got)

	// The images change the Kubernetes graph only.
	plain := buildGraph(t, loadSpecFile(t, "testdata/k8s-node.yaml", nil))
	if graphDigest(t, g.OS) != graphDigest(t, plain.OS) {
		t.Error("pre-pulled images changed the OS graph")
	}
}
