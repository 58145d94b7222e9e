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
// the upstream layout with upstream-format checksum files. It serves
// kubelet, kubeadm and kubectl for two Kubernetes releases: Kubernetes, the
// one the node is built at, and PreviousKubernetes, one patch release
// behind, which a version bump starts from.
type release struct {
	Dir                string `json:"dir"`
	Kubernetes         string `json:"kubernetes"`
	PreviousKubernetes string `json:"previousKubernetes"`
	Containerd         string `json:"containerd"`
	Runc               string `json:"runc"`
	Crictl             string `json:"crictl"`
	CNI                string `json:"cni"`
	// The pause image tarball's URL path and name (images_test.go).
	PausePath  string `json:"pausePath"`
	PauseImage string `json:"pauseImage"`
	// The etcd and CoreDNS image tarballs' URL paths and names, at the
	// versions kubeadm of Kubernetes deploys (capi_test.go).
	EtcdPath     string `json:"etcdPath"`
	EtcdImage    string `json:"etcdImage"`
	CorednsPath  string `json:"corednsPath"`
	CorednsImage string `json:"corednsImage"`
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
	if r.PreviousKubernetes == "" {
		return nil, fmt.Errorf("mkartifacts output %q names no previous Kubernetes release", lastLine(out))
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

// previous is the fixture at its previous Kubernetes release: the same
// containerd, runc, crictl and CNI.
func (r *release) previous() *release {
	p := *r
	p.Kubernetes, p.PreviousKubernetes = r.PreviousKubernetes, ""
	return &p
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
var k8sDisk = sync.OnceValues(func() (string, error) { return buildK8sDisk("k8s-node") })

// buildK8sDisk builds the Kubernetes node spec against the fixture mirror
// into the work directory's name/disk.raw.
func buildK8sDisk(name string, extra ...string) (string, error) {
	return buildK8sDiskOn(env.base, name, extra...)
}

// buildK8sDiskOn is buildK8sDisk on the OS base osBase.
func buildK8sDiskOn(osBase, name string, extra ...string) (string, error) {
	r, err := k8sRelease()
	if err != nil {
		return "", err
	}
	srv, err := k8sMirror()
	if err != nil {
		return "", err
	}
	out := filepath.Join(env.workDir, name)
	args := append([]string{"--build-context", "os-base=" + osBase}, versionArgs(r, srv.URL())...)
	log, err := strataBuildWith(k8sSpec, "disk", out, false, append(args, extra...)...)
	if err != nil {
		return "", fmt.Errorf("strata build: %w\n%s", err, tail(log, 120))
	}
	return filepath.Join(out, "disk.raw"), nil
}

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
	checkDebugfs(t, root, checks)
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
	bootAndExpect(t, disk, "k8s-console.log", append(nodeCheckLines(r), "node-check os: debian bookworm systemd 252"), []string{"node-check FAILED"})
}

// nodeCheckLines are the console lines of e2e/testdata/k8s-node.yaml's
// check unit on a healthy node of release r, "node-check done" last.
func nodeCheckLines(r *release) []string {
	return []string{
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
		"node-check ok: sysctl_is vm.overcommit_memory 1",
		"node-check ok: sysctl_is kernel.panic 10",
		"node-check ok: sysctl_is kernel.panic_on_oops 1",
		"node-check ok: sysctl_is net.ipv4.tcp_congestion_control bbr",
		"node-check ok: sysctl_is fs.inotify.max_user_watches 524288",
		"node-check ok: systemctl is-active chrony",
		"node-check ok: systemctl is-active auditd",
		"node-check ok: systemctl is-active systemd-resolved",
		"node-check ok: test ../run/systemd/resolve/stub-resolv.conf = ../run/systemd/resolve/stub-resolv.conf",
		"node-check ok: test -s /boot/config-", // the running kernel's version follows
		"node-check ok: test -x /usr/bin/cloud-init",
		"node-check ok: test -x /usr/bin/growpart",
		"node-check kubelet-version: Kubernetes " + r.Kubernetes,
		"node-check done",
	}
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

// TestKubernetesMalformedChecksumFails: the mirror answers a checksum file
// with something that is not one, as a mirror serving its error page with
// status 200 does. The build must fail before anything is fetched or built,
// name the spec line and field, the artifact, the checksum URL and the
// file's offending line, say what to do, and export nothing.
func TestKubernetesMalformedChecksumFails(t *testing.T) {
	r, _ := requireRelease(t)
	rel := releaseserver.Release{Kubernetes: r.Kubernetes, Runc: r.Runc}
	tests := []struct {
		name, path, field, artifact string
		body                        string
		want                        []string
	}{
		{
			name: "html page for kubelet", path: rel.KubeBinary("kubelet") + ".sha256",
			field: "kubernetes.version", artifact: "kubelet " + r.Kubernetes,
			body: "<!DOCTYPE html>\n<html><body>Service Unavailable</body></html>\n",
			want: []string{`line 1 is in an unexpected format`, `got "<!DOCTYPE html>"`, "kubernetes.artifacts.kubelet.sha256"},
		},
		{
			// runc's file lists every architecture; the amd64 line is
			// fine, a later one is not, and the file is refused whole.
			name: "sha512 line in runc's list", path: rel.RuncChecksums(),
			field: "kubernetes.runc", artifact: "runc " + r.Runc,
			body: fmt.Sprintf("%064x  runc.amd64\n%0128x  runc.arm64\n", 1, 2),
			want: []string{`line 2 is in an unexpected format`, "kubernetes.artifacts.runc.sha256"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := releaseserver.Start(r.Dir, releaseserver.Options{Tamper: map[string][]byte{tt.path: []byte(tt.body)}})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			out := filepath.Join(t.TempDir(), "out")
			log, err := strataBuild(k8sSpec, "disk", out, versionArgs(r, srv.URL())...)
			if err == nil {
				t.Fatalf("a build with a malformed checksum file succeeded:\n%s", tail(log, 60))
			}
			// file:line:column and the field, then the YAML line itself.
			line := specLine(t, k8sSpec, "  "+strings.TrimPrefix(tt.field, "kubernetes.")+":")
			want := append([]string{
				fmt.Sprintf("%s:%d:3: %s: checksum file %s%s of %s: ", filepath.Base(k8sSpec), line, tt.field, srv.URL(), tt.path, tt.artifact),
				">>>   " + strings.TrimPrefix(tt.field, "kubernetes.") + ": ",
				"check that kubernetes.source serves upstream's checksum files unchanged",
			}, tt.want...)
			for _, w := range want {
				if !strings.Contains(log, w) {
					t.Errorf("output lacks %q:\n%s", w, tail(log, 60))
				}
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a failed build exported %s", out)
			}
			// Nothing but checksum files was fetched: the build stopped
			// before its graph was solved.
			for _, p := range srv.Requests() {
				if !strings.HasSuffix(p, ".sha256") && !strings.HasSuffix(p, ".sha256sum") {
					t.Errorf("a build with a malformed checksum fetched %s", p)
				}
			}
		})
	}
}

// specLine is the 1-based number of the first line of the spec at rel
// (from the repository root) that starts with prefix.
func specLine(t *testing.T, rel, prefix string) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(env.repo, rel))
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, prefix) {
			return i + 1
		}
	}
	t.Fatalf("%s has no line starting with %q", rel, prefix)
	return 0
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
