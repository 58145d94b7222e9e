package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-dev/strata/e2e/releaseserver"
)

// release is the local Kubernetes release fixture (e2e/cmd/mkartifacts):
// real containerd, runc and CNI plugins repacked from Debian packages, and
// kubelet, kubeadm, kubectl and crictl built from the Go module proxy, in
// the upstream layout with upstream-format checksum files.
type release struct {
	Dir        string `json:"dir"`
	Kubernetes string `json:"kubernetes"`
	Containerd string `json:"containerd"`
	Runc       string `json:"runc"`
	Crictl     string `json:"crictl"`
	CNI        string `json:"cni"`
	// The pause image tarball's URL path and name (images_test.go).
	PausePath  string `json:"pausePath"`
	PauseImage string `json:"pauseImage"`
}

var k8sRelease = sync.OnceValues(func() (*release, error) {
	out, err := run(60*time.Minute, env.repo, "go", "run", "./e2e/cmd/mkartifacts", "-cache", filepath.Join(env.cacheDir, "artifacts"))
	if err != nil {
		return nil, fmt.Errorf("building the release fixture: %w", err)
	}
	var r release
	if err := json.Unmarshal([]byte(lastLine(out)), &r); err != nil {
		return nil, fmt.Errorf("mkartifacts output %q: %w", lastLine(out), err)
	}
	return &r, nil
})

// k8sMirror serves the fixture on loopback for the whole test binary.
var k8sMirror = sync.OnceValues(func() (*releaseserver.Server, error) {
	r, err := k8sRelease()
	if err != nil {
		return nil, err
	}
	return releaseserver.Start(r.Dir, releaseserver.Options{})
})

func requireRelease(t *testing.T) (*release, *releaseserver.Server) {
	t.Helper()
	requireE2E(t)
	r, err := k8sRelease()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := k8sMirror()
	if err != nil {
		t.Fatal(err)
	}
	return r, srv
}

// versionArgs points the spec at the fixture: its versions, and its server
// as kubernetes.source.
func versionArgs(r *release, source string) []string {
	return []string{
		"--build-arg", "KUBERNETES_VERSION=" + r.Kubernetes,
		"--build-arg", "KUBERNETES_CONTAINERD=" + r.Containerd,
		"--build-arg", "KUBERNETES_RUNC=" + r.Runc,
		"--build-arg", "KUBERNETES_CRICTL=" + r.Crictl,
		"--build-arg", "KUBERNETES_CNI=" + r.CNI,
		"--build-arg", "KUBERNETES_SOURCE=" + source,
	}
}

const k8sSpec = "e2e/testdata/k8s-node.yaml"

// k8sDisk builds the Kubernetes node disk once.
var k8sDisk = sync.OnceValues(func() (string, error) {
	r, err := k8sRelease()
	if err != nil {
		return "", err
	}
	srv, err := k8sMirror()
	if err != nil {
		return "", err
	}
	out := filepath.Join(env.workDir, "k8s-node")
	log, err := strataBuild(k8sSpec, "disk", out, versionArgs(r, srv.URL())...)
	if err != nil {
		return "", fmt.Errorf("strata build: %w\n%s", err, tail(log, 120))
	}
	return filepath.Join(out, "disk.raw"), nil
})

func TestKubernetesNodeLayout(t *testing.T) {
	r, _ := requireRelease(t)
	disk, err := k8sDisk()
	if err != nil {
		t.Fatal(err)
	}
	table := sfdisk(t, disk)
	root := extract(t, disk, table.Partitions[1].Start, table.Partitions[1].Size)
	checks := map[string]string{
		"cat /etc/kubernetes-version":                                         r.Kubernetes,
		"cat /etc/containerd/config.toml":                                     "SystemdCgroup = true",
		"stat /etc/systemd/system/multi-user.target.wants/kubelet.service":    "Type: symlink",
		"stat /etc/systemd/system/multi-user.target.wants/containerd.service": "Type: symlink",
		"stat /usr/bin/kubelet":                                               "Mode:  0755",
		"stat /usr/local/bin/containerd":                                      "Mode:  0755",
		"stat /usr/local/sbin/runc":                                           "Mode:  0755",
		"stat /usr/local/bin/crictl":                                          "Mode:  0755",
		"stat /opt/cni/bin/bridge":                                            "Mode:  0755",
		"cat /etc/sysctl.d/99-kubernetes.conf":                                "net.bridge.bridge-nf-call-iptables = 1",
		"cat /etc/strata-release":                                             "KUBERNETES_VERSION=" + r.Kubernetes,
		"cat /etc/default/kubelet":                                            "KUBELET_EXTRA_ARGS=",
	}
	for req, want := range checks {
		if got := debugfs(t, root, req); !strings.Contains(got, want) {
			t.Errorf("debugfs %q: want %q in\n%s", req, want, got)
		}
	}
	if got := debugfs(t, root, "stat /usr/bin/kubelet"); !strings.Contains(got, "User:     0   Group:     0") {
		t.Errorf("kubelet is not owned by root:\n%s", got)
	}
}

// TestKubernetesNodeBoots boots the node under QEMU: containerd runs, crictl
// answers on its socket, kubelet is the pinned version and enabled, and the
// kernel settings are in effect. The check unit in the spec prints them.
func TestKubernetesNodeBoots(t *testing.T) {
	r, _ := requireRelease(t)
	disk, err := k8sDisk()
	if err != nil {
		t.Fatal(err)
	}
	bootAndExpect(t, disk, "k8s-console.log", []string{
		"node-check ok: systemctl is-active containerd",
		"node-check ok: crictl info",
		"node-check ok: systemctl is-enabled kubelet",
		"node-check ok: test -x /opt/cni/bin/bridge",
		"node-check ok: sysctl_is net.ipv4.ip_forward 1",
		"node-check ok: sysctl_is net.bridge.bridge-nf-call-iptables 1",
		"node-check ok: sysctl_is net.bridge.bridge-nf-call-ip6tables 1",
		"node-check ok: sysctl_is net.ipv6.conf.all.forwarding 1",
		"node-check ok: grep -qw ^br_netfilter /proc/modules",
		"node-check ok: grep -qw ^overlay /proc/modules",
		"node-check kubelet-version: Kubernetes " + r.Kubernetes,
		"node-check done",
	}, []string{"node-check FAILED"})
}

// TestKubernetesTamperedArtifactFails: the mirror serves kubelet bytes
// that do not match the published checksum. The build must fail, name the
// artifact and its URL, and export nothing.
func TestKubernetesTamperedArtifactFails(t *testing.T) {
	r, _ := requireRelease(t)
	kubeletPath := "release/" + r.Kubernetes + "/bin/linux/amd64/kubelet"
	// A checksum nobody has fetched content for, so BuildKit's
	// content-addressed cache cannot answer and the bytes are fetched.
	claimed := fmt.Sprintf("%064x", time.Now().UnixNano())
	srv, err := releaseserver.Start(r.Dir, releaseserver.Options{Tamper: map[string][]byte{
		kubeletPath + ".sha256": []byte(claimed + "\n"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	out := filepath.Join(env.workDir, "tampered")
	log, err := strataBuild(k8sSpec, "disk", out, versionArgs(r, srv.URL())...)
	if err == nil {
		t.Fatalf("a build with a tampered kubelet succeeded:\n%s", tail(log, 60))
	}
	for _, want := range []string{"fetch kubelet " + r.Kubernetes + " from " + srv.URL() + "/" + kubeletPath, "sha256:" + claimed} {
		if !strings.Contains(log, want) {
			t.Errorf("output lacks %q:\n%s", want, tail(log, 60))
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a failed build exported %s", out)
	}
}

// TestKubernetesUnreachableSource: a source nobody listens on fails with the
// field, the artifact and the URL.
func TestKubernetesUnreachableSource(t *testing.T) {
	r, _ := requireRelease(t)
	log, err := strataBuild(k8sSpec, "rootfs", "", versionArgs(r, "http://127.0.0.1:9")...)
	if err == nil {
		t.Fatalf("a build from an unreachable source succeeded:\n%s", tail(log, 60))
	}
	for _, want := range []string{"fetching the checksum of", "from http://127.0.0.1:9/", "check kubernetes.source"} {
		if !strings.Contains(log, want) {
			t.Errorf("output lacks %q:\n%s", want, tail(log, 60))
		}
	}
}

// TestKubernetesCacheIndependence proves from BuildKit's own solve status
// that an OS change re-runs no Kubernetes step and re-downloads no artifact,
// and that a Kubernetes-only change re-runs no OS step.
func TestKubernetesCacheIndependence(t *testing.T) {
	r, srv := requireRelease(t)
	if _, err := k8sDisk(); err != nil {
		t.Fatal(err) // the warm build
	}
	args := append(versionArgs(r, srv.URL()), "--progress", "rawjson")

	// Changes unique to this run, so a buildkitd kept from an earlier run
	// has not cached them already.
	nonce := fmt.Sprint(time.Now().UnixNano())

	osChanged := filepath.Join(t.TempDir(), "k8s-node.yaml")
	spec, err := os.ReadFile(filepath.Join(env.repo, k8sSpec))
	if err != nil {
		t.Fatal(err)
	}
	const anchor = "  distro: debian\n"
	if !strings.Contains(string(spec), anchor) {
		t.Fatalf("%s lacks %q", k8sSpec, anchor)
	}
	spec = []byte(strings.Replace(string(spec), anchor, anchor+"  run: [\"echo "+nonce+" > /etc/strata-e2e-nonce\"]\n", 1))
	if err := os.WriteFile(osChanged, spec, 0o644); err != nil {
		t.Fatal(err)
	}
	before := len(srv.Requests())
	log, err := strataBuild(osChanged, "disk", filepath.Join(env.workDir, "k8s-os-change"), args...)
	if err != nil {
		t.Fatalf("OS-change build: %v\n%s", err, tail(log, 60))
	}
	status := vertexCache(log)
	assertRan(t, status, "[os ", "run: echo "+nonce)
	// The layer's steps come from cache. Its downloads are content-addressed
	// by their pinned digests: BuildKit reports their vertices as resolved,
	// not cached, so the mirror's log is what proves nothing was fetched.
	assertAllCached(t, status, "[kubernetes ")
	for _, p := range srv.Requests()[before:] {
		if !strings.HasSuffix(p, ".sha256") && !strings.HasSuffix(p, ".sha256sum") {
			t.Errorf("an OS change re-downloaded %s", p)
		}
	}

	log, err = strataBuild(k8sSpec, "disk", filepath.Join(env.workDir, "k8s-change"),
		append(args, "--build-arg", "KUBERNETES_SANDBOX_IMAGE=registry.k8s.io/pause:e2e-"+nonce)...)
	if err != nil {
		t.Fatalf("Kubernetes-change build: %v\n%s", err, tail(log, 60))
	}
	status = vertexCache(log)
	assertAllCached(t, status, "[os ")
	assertRan(t, status, "[kubernetes ", "configure")
}

// assertAllCached fails for every vertex whose name starts with prefix and
// that ran; at least one such vertex must exist.
func assertAllCached(t *testing.T, status map[string]bool, prefix string) {
	t.Helper()
	seen := 0
	for name, cached := range status {
		if strings.HasPrefix(name, prefix) {
			seen++
			if !cached {
				t.Errorf("vertex %q ran; it should have come from cache", name)
			}
		}
	}
	if seen == 0 {
		t.Errorf("no %q vertex in the solve status", prefix)
	}
}

// assertRan fails unless a vertex whose name starts with prefix and
// contains part ran (was not cached).
func assertRan(t *testing.T, status map[string]bool, prefix, part string) {
	t.Helper()
	for name, cached := range status {
		if strings.HasPrefix(name, prefix) && strings.Contains(name, part) && !cached {
			return
		}
	}
	t.Errorf("no %q vertex containing %q ran; status: %v", prefix, part, status)
}
