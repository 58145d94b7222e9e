package node

import (
	"context"
	"slices"
	"testing"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
)

// TestSecretsStayInTheirLayer: a secret ID reaches only the graph whose
// steps use it: kubernetes.sourceSecret the Kubernetes downloads,
// os.packageSecret the OS layer's installs. Changing either rebuilds
// nothing of the other layer.
func TestSecretsStayInTheirLayer(t *testing.T) {
	const file = "testdata/k8s-node.yaml"
	mirror := map[string]string{"KUBERNETES_SOURCE": "https://mirror.example/k8s"}
	base := buildGraph(t, loadSpecFile(t, file, mirror))
	with := func(k, v string) map[string]string {
		args := map[string]string{k: v}
		for k, v := range mirror {
			args[k] = v
		}
		return args
	}

	k8s := buildGraph(t, loadSpecFile(t, file, with("KUBERNETES_SOURCE_SECRET", "k8s-mirror")))
	if graphDigest(t, k8s.OS) != graphDigest(t, base.OS) {
		t.Error("kubernetes.sourceSecret changed the OS graph")
	}
	if graphDigest(t, *k8s.Kubernetes) == graphDigest(t, *base.Kubernetes) {
		t.Error("kubernetes.sourceSecret did not reach the Kubernetes graph")
	}

	apt := buildGraph(t, loadSpecFile(t, file, with("OS_PACKAGE_SECRET", "apt-mirror")))
	if graphDigest(t, *apt.Kubernetes) != graphDigest(t, *base.Kubernetes) {
		t.Error("os.packageSecret changed the Kubernetes graph")
	}
	if graphDigest(t, apt.OS) == graphDigest(t, base.OS) {
		t.Error("os.packageSecret did not reach the OS graph")
	}
	if graphDigest(t, apt.Overlay) != graphDigest(t, base.Overlay) {
		t.Error("os.packageSecret changed the overlay graph, which installs nothing")
	}
}

// TestValidationScansForTheBuildsSecrets: every provider's validation step
// mounts each secret the spec names and hands it to strata inspect's
// secret scan, so a value that leaked into the disk fails the build.
func TestValidationScansForTheBuildsSecrets(t *testing.T) {
	args := map[string]string{"KUBERNETES_SOURCE": "https://mirror.example/k8s",
		"KUBERNETES_SOURCE_SECRET": "k8s-mirror", "OS_PACKAGE_SECRET": "apt-mirror"}
	g := buildGraph(t, loadSpecFile(t, "testdata/k8s-node.yaml", args))
	def, err := g.Providers["qemu"].Marshal(context.Background(), llb.LinuxAmd64)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, dt := range def.Def {
		var op pb.Op
		if err := op.UnmarshalVT(dt); err != nil {
			t.Fatal(err)
		}
		e := op.GetExec()
		if e == nil || !slices.Contains(e.Meta.Args, "inspect") {
			continue
		}
		found = true
		for _, id := range []string{"k8s-mirror", "apt-mirror"} {
			path := "/run/secrets/" + id
			if !slices.Contains(e.Meta.Args, path) || e.Meta.Args[slices.Index(e.Meta.Args, path)-1] != "--secret-value-file" {
				t.Errorf("validation runs %v, without --secret-value-file %s", e.Meta.Args, path)
			}
			mounted := slices.ContainsFunc(e.Mounts, func(m *pb.Mount) bool {
				return m.MountType == pb.MountType_SECRET && m.Dest == path && m.SecretOpt.ID == id
			})
			if !mounted {
				t.Errorf("validation does not mount secret %s at %s", id, path)
			}
		}
	}
	if !found {
		t.Fatal("no validation step in the qemu graph")
	}
}
