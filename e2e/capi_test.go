package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/strata-dev/strata/boottest"
	"github.com/strata-dev/strata/e2e/releaseserver"
	"github.com/strata-dev/strata/spec"
)

// kubeadmImages is what the fixture's kubeadm of version says it runs:
// `kubeadm config images list`, which reads kubeadm's own constants and
// needs no network when the version is given.
func kubeadmImages(t *testing.T, r *release, version string) []string {
	t.Helper()
	kubeadm := filepath.Join(r.Dir, releaseserver.Release{Kubernetes: version}.KubeBinary("kubeadm"))
	out, err := run(time.Minute, env.repo, kubeadm, "config", "images", "list", "--kubernetes-version", version)
	if err != nil {
		t.Fatalf("kubeadm config images list: %v", err)
	}
	return strings.Fields(out)
}

// TestSandboxImageIsKubeadms: the pause image strata pins in containerd's
// config by default is the one kubeadm of the same release pre-pulls and
// hands to kubelet, for both releases the fixture serves. Were they to
// differ, an air-gapped node would lack its sandbox image.
func TestSandboxImageIsKubeadms(t *testing.T) {
	r, _ := requireRelease(t)
	for _, version := range []string{r.Kubernetes, r.PreviousKubernetes} {
		images := kubeadmImages(t, r, version)
		pin := spec.SandboxImageFor(version)
		if pin == "" || !slices.Contains(images, pin) {
			t.Errorf("Kubernetes %s: strata pins the sandbox image %q; kubeadm runs %v", version, pin, images)
		}
	}
}

// cabpkUserData is user-data in the shape Cluster API's kubeadm bootstrap
// provider writes for a control-plane Machine (its cloud-init template:
// a Jinja header, write_files with the kubeadm config under /run/kubeadm,
// and runcmd running kubeadm init, then the success marker), plus what a
// CNI add-on would bring (a bridge network from the node's CNI plugins)
// and the test's own check, which prints its findings on the console.
func cabpkUserData(version, nodeName, podImage string) string {
	return `## template: jinja
#cloud-config
# Not CABPK's: a console heartbeat, so that the boot's stall watch (which
# catches emulated guests that freeze while booting) does not end the boot
# while kubeadm waits in silence for the control plane.
# It must neither wait for its unit to start nor order it after
# basic.target: cloud-init's stage is itself ordered before sysinit.target.
bootcmd:
- systemd-run --no-block -p DefaultDependencies=no --unit capi-heartbeat /bin/sh -c 'while sleep 60; do echo "capi-check heartbeat" >/dev/console; done'
write_files:
- path: /run/kubeadm/kubeadm.yaml
  owner: root:root
  permissions: '0640'
  content: |
    ---
    apiVersion: kubeadm.k8s.io/v1beta4
    kind: ClusterConfiguration
    clusterName: strata-e2e
    kubernetesVersion: ` + version + `
    networking:
      dnsDomain: cluster.local
      podSubnet: 10.244.0.0/16
      serviceSubnet: 10.96.0.0/12
    ---
    apiVersion: kubeadm.k8s.io/v1beta4
    kind: InitConfiguration
    nodeRegistration:
      name: '{{ ds.meta_data.local_hostname }}'
      criSocket: unix:///run/containerd/containerd.sock
    # Emulated CPUs start the control plane in minutes, not seconds.
    timeouts:
      controlPlaneComponentHealthCheck: 20m0s
      kubeletHealthCheck: 10m0s
      kubernetesAPICall: 5m0s
- path: /etc/cni/net.d/10-strata-e2e.conflist
  owner: root:root
  permissions: '0644'
  content: |
    {"cniVersion": "1.0.0", "name": "strata-e2e",
     "plugins": [
       {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true,
        "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.244.0.0/24"}]],
                 "routes": [{"dst": "0.0.0.0/0"}]}},
       {"type": "portmap", "capabilities": {"portMappings": true}}]}
- path: /run/cluster-api/placeholder
  owner: root:root
  permissions: '0640'
  content: "This file is created by the kubeadm bootstrap provider."
- path: /usr/local/bin/capi-check
  owner: root:root
  permissions: '0755'
  content: |
    #!/bin/sh
    # One console line per finding; the test waits for them.
    export KUBECONFIG=/etc/kubernetes/admin.conf
    say() { echo "capi-check $*" >/dev/console; }
    root_bytes=$(df -B1 --output=size / | tail -1 | tr -d ' ')
    say "root filesystem bytes: $root_bytes"
    [ "$root_bytes" -gt 10737418240 ] && say "ok: root grown" || say "FAILED: root not grown"
    [ -f /run/cluster-api/bootstrap-success.complete ] && say "ok: kubeadm init succeeded" || say "FAILED: kubeadm init"
    ready() { kubectl get node ` + nodeName + ` -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null; }
    i=0; until [ "$(ready)" = True ]; do i=$((i+1)); [ $i -gt 180 ] && break; sleep 5; done
    say "node: $(kubectl get node ` + nodeName + ` --no-headers 2>&1)"
    [ "$(ready)" = True ] && say "ok: node Ready" || say "FAILED: node not Ready"
    # The namespace's default service account comes a little after the
    # node is Ready, from the controller manager; until then pods are refused.
    cat >/run/capi-check-pod.yaml <<POD
    apiVersion: v1
    kind: Pod
    metadata: {name: capi-check, namespace: default}
    spec:
      tolerations: [{key: node-role.kubernetes.io/control-plane, effect: NoSchedule}]
      containers: [{name: pause, image: ` + podImage + `, imagePullPolicy: Never}]
    POD
    i=0; until kubectl apply -f /run/capi-check-pod.yaml; do i=$((i+1)); [ $i -gt 60 ] && break; sleep 5; done
    phase() { kubectl get pod -n "$1" "$2" -o jsonpath='{.status.phase}' 2>/dev/null; }
    i=0; until [ "$(phase default capi-check)" = Running ]; do i=$((i+1)); [ $i -gt 120 ] && break; sleep 5; done
    [ "$(phase default capi-check)" = Running ] && say "ok: pod Running" || say "FAILED: pod $(phase default capi-check): $(kubectl describe pod capi-check 2>&1 | tail -5 | tr '\n' ' ')"
    kubectl get pods -A --no-headers 2>&1 | while read -r line; do say "pod: $line"; done
    say done
runcmd:
- 'kubeadm init --config /run/kubeadm/kubeadm.yaml && echo success > /run/cluster-api/bootstrap-success.complete'
- /usr/local/bin/capi-check
`
}

// TestClusterAPIBootstrap is the node judged as Cluster API uses it: the
// qemu output, booted from a disk larger than the image with a NoCloud
// seed whose user-data has the shape of CABPK's for a control-plane
// Machine. cloud-init must grow the root to the disk, run kubeadm init to
// success with the control plane from the pre-pulled images (nothing can
// be pulled: the guest's network reaches nothing), and the node must
// become Ready and run a pod.
func TestClusterAPIBootstrap(t *testing.T) {
	requireE2E(t)
	bootstrapClusterAPI(t, env.base, "capi")
}

// TestClusterAPIBootstrapTrixie is TestClusterAPIBootstrap for the node
// built on Debian 13, whose cloud-init and systemd are newer.
func TestClusterAPIBootstrapTrixie(t *testing.T) {
	requireE2E(t)
	base, err := trixieBase()
	if err != nil {
		t.Fatal(err)
	}
	bootstrapClusterAPI(t, base, "capi-trixie")
}

// bootstrapClusterAPI builds the control-plane node on the OS base osBase
// into the work directory's name/ and bootstraps it as CABPK would.
func bootstrapClusterAPI(t *testing.T, osBase, name string) {
	r, srv := requireRelease(t)
	if r.EtcdImage == "" || r.CorednsImage == "" {
		t.Fatal("the release fixture serves no etcd or CoreDNS image (e2e/cmd/mkartifacts)")
	}
	// The node can only come up offline if it holds every image kubeadm
	// runs: the release images under kubeadm's names (the import tags
	// them), and the fixture's etcd, CoreDNS and pause.
	have := []string{r.EtcdImage, r.CorednsImage, r.PauseImage}
	for _, name := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"} {
		have = append(have, "registry.k8s.io/"+name+":"+r.Kubernetes)
	}
	want := kubeadmImages(t, r, r.Kubernetes)
	for _, img := range want {
		if !slices.Contains(have, img) {
			t.Fatalf("kubeadm %s runs %s, which the node would not hold (it holds %v)", r.Kubernetes, img, have)
		}
	}
	specPath, err := capiSpecFor(t, r, srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(env.workDir, name)
	log, err := strataBuildWith(specPath, "qemu", out, false, append([]string{"--build-context", "os-base=" + osBase}, versionArgs(r, srv.URL())...)...)
	if err != nil {
		t.Fatalf("strata build: %v\n%s", err, tail(log, 80))
	}
	images, err := filepath.Glob(filepath.Join(out, "*.qcow2"))
	if err != nil || len(images) != 1 {
		t.Fatalf("the qemu output holds %v (%v), want one qcow2", images, err)
	}

	// A VM made from the image with a larger disk, as a cloud makes one.
	dir := t.TempDir()
	vmDisk := filepath.Join(dir, "vm.qcow2")
	if _, err := run(time.Minute, dir, "qemu-img", "create", "-f", "qcow2", "-F", "qcow2", "-b", images[0], vmDisk, "12G"); err != nil {
		t.Fatal(err)
	}
	const nodeName = "capi-cp-0"
	seed := filepath.Join(dir, "seed.img")
	err = boottest.NoCloudSeed{
		UserData: cabpkUserData(r.Kubernetes, nodeName, r.PauseImage),
		MetaData: "instance-id: " + nodeName + "\nlocal-hostname: " + nodeName + "\n",
		// A cloud's network has a default route, which kubeadm and kubelet
		// pick the node's address by; QEMU's restricted network leaves the
		// router out of its DHCP offers, so the seed declares the network
		// as a cloud's metadata would (the address is the one QEMU's DHCP
		// hands out). Nothing beyond QEMU is reachable through it.
		// cloud-init 22.4's networkd renderer ignores match: and names the
		// interface by its key, so the key is the NIC's name on this VM.
		NetworkConfig: "version: 2\nethernets:\n  enp0s1:\n    addresses: [10.0.2.15/24]\n    gateway4: 10.0.2.2\n",
	}.Write(seed)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	bootWithin(t, boottest.Options{Disk: vmDisk, Format: "qcow2", ReadOnlyDrives: []string{seed}, Memory: "4096"},
		40*time.Minute, name+"-console.log", []string{
			"capi-check ok: root grown",
			"capi-check ok: kubeadm init succeeded",
			"capi-check ok: node Ready",
			"capi-check ok: pod Running",
			"capi-check done",
		}, []string{"capi-check FAILED", "Failed to start cloud-final"})
	t.Logf("from power-on to a Ready node running a pod: %s", time.Since(start).Round(time.Second))
}

// capiSpecFor writes the control-plane node spec with the fixture's URLs
// for the images a release does not publish (etcd, CoreDNS, pause).
func capiSpecFor(t *testing.T, r *release, base string) (string, error) {
	data, err := os.ReadFile(filepath.Join(env.repo, "e2e/testdata/capi-node.yaml"))
	if err != nil {
		return "", err
	}
	doc := strings.NewReplacer(
		"FIXTURE/etcd.tar", base+r.EtcdPath,
		"FIXTURE/coredns.tar", base+r.CorednsPath,
		"FIXTURE/pause.tar", base+r.PausePath,
	).Replace(string(data))
	if doc == string(data) {
		return "", fmt.Errorf("capi-node.yaml names no FIXTURE/ image")
	}
	p := filepath.Join(t.TempDir(), "capi-node.yaml")
	return p, os.WriteFile(p, []byte(doc), 0o644)
}
