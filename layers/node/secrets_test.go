package node

import "testing"

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
