package node

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/buildkit/client/llb"
	digest "github.com/opencontainers/go-digest"
	"github.com/strata-dev/strata/layers/overlays"
	_ "github.com/strata-dev/strata/layers/overlays/debian"
	_ "github.com/strata-dev/strata/layers/overlays/flatcar"
	_ "github.com/strata-dev/strata/layers/overlays/rhel"
	_ "github.com/strata-dev/strata/layers/overlays/ubuntu"
	"github.com/strata-dev/strata/spec"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func loadSpec(t *testing.T, args map[string]string) *spec.Spec {
	t.Helper()
	return loadSpecFile(t, "testdata/node.yaml", args)
}

func loadSpecFile(t *testing.T, path string, args map[string]string) *spec.Spec {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := spec.Load("node.yaml", data, args, overlays.Defaults())
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return sp
}

func buildGraph(t *testing.T, sp *spec.Spec) Graph {
	t.Helper()
	return buildGraphWith(t, sp, fakeDigests())
}

func buildGraphWith(t *testing.T, sp *spec.Spec, digests map[string]digest.Digest) Graph {
	t.Helper()
	distro, ok := overlays.Lookup(sp.Image.OS.Distro)
	if !ok {
		t.Fatalf("no distro %q", sp.Image.OS.Distro)
	}
	in := Input{
		Spec:              sp,
		KubernetesDigests: digests,
		StrataVersion:     "v0.0.0-golden",
		Distro:            distro,
		Base:              llb.Image("docker.io/library/debian:bookworm@sha256:0000000000000000000000000000000000000000000000000000000000000000"),
		Tools:             llb.Image("example.test/strata-tools:golden"),
	}
	if d := sp.Image.OS.BaseDisk; d != nil {
		// As the frontend fetches a URL.
		in.BaseDisk = &VendorDisk{Dir: llb.HTTP(d.URL, llb.Filename("vendor.img")), From: d.URL}
	}
	g, err := Build(in)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return g
}

func TestGolden(t *testing.T) {
	g := buildGraph(t, loadSpec(t, nil))
	k := buildGraph(t, loadSpecFile(t, "testdata/k8s-node.yaml", nil))
	if k.Kubernetes == nil || k.KubernetesSysext == nil {
		t.Fatal("no kubernetes graphs for a spec with a kubernetes section")
	}
	x := buildGraph(t, loadSpecFile(t, "testdata/k8s-node.yaml", map[string]string{"KUBERNETES_INSTALL": "sysext"}))
	for name, st := range map[string]llb.State{"os": g.OS, "overlay": g.Overlay, "disk": g.Disk,
		"k8s-os": k.OS, "kubernetes": *k.Kubernetes, "k8s-rootfs": k.Rootfs,
		"kubernetes-sysext": *k.KubernetesSysext, "k8s-sysext-rootfs": x.Rootfs,
		"provider-raw": g.Providers["raw"], "provider-aws": k.Providers["aws"],
		"k8s-disk": k.Disk, "k8s-sysext-disk": x.Disk} {
		t.Run(name, func(t *testing.T) {
			got := dumpGraph(t, st)
			compareGolden(t, filepath.Join("testdata", name+".golden"), got)
		})
	}
}

// TestOSGraphIgnoresOtherSections is the cache-independence promise at the
// LLB level: fields outside os.* must not reach the OS graph's digest, while
// os.* fields must.
func TestOSGraphIgnoresOtherSections(t *testing.T) {
	base := buildGraph(t, loadSpec(t, nil))
	unrelated := map[string]map[string]string{
		"disk size":  {"DISK_SIZE": "6GiB"},
		"cmdline":    {"DISK_CMDLINE": "console=ttyS0 quiet"},
		"name":       {"NAME": "other-name"},
		"root label": {"DISK_ROOT_LABEL": "rootfs"},
	}
	for name, args := range unrelated {
		g := buildGraph(t, loadSpec(t, args))
		if graphDigest(t, g.OS) != graphDigest(t, base.OS) {
			t.Errorf("changing %s changed the OS graph", name)
		}
		if graphDigest(t, g.Overlay) != graphDigest(t, base.Overlay) {
			t.Errorf("changing %s changed the overlay graph", name)
		}
		if graphDigest(t, g.Disk) == graphDigest(t, base.Disk) {
			t.Errorf("changing %s did not change the disk graph", name)
		}
	}
	related := map[string]map[string]string{
		"packages": {"OS_PACKAGES": "curl"},
		"kernel":   {"OS_KERNEL": "linux-image-amd64"},
	}
	for name, args := range related {
		g := buildGraph(t, loadSpec(t, args))
		if graphDigest(t, g.OS) == graphDigest(t, base.OS) {
			t.Errorf("changing %s did not change the OS graph", name)
		}
	}
}

func firstDiff(want, got string) string {
	wl, gl := splitLines(want), splitLines(got)
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return "line " + itoa(i+1) + ":\n  want: " + w + "\n  got:  " + g
		}
	}
	return "(no line differs)"
}

// fakeDigests stands in for the checksums the frontend fetches.
func fakeDigests() map[string]digest.Digest {
	out := map[string]digest.Digest{}
	for i, name := range []string{"kubelet", "kubeadm", "kubectl", "containerd", "runc", "crictl", "cni"} {
		out[name] = digest.FromString(fmt.Sprint("fake artifact ", i))
	}
	return out
}

// TestLayersAreIndependent: a Kubernetes version bump must leave the OS graph
// alone, and an OS change must leave the Kubernetes graph alone; only the
// merge and the disk see both.
func TestLayersAreIndependent(t *testing.T) {
	const file = "testdata/k8s-node.yaml"
	base := buildGraph(t, loadSpecFile(t, file, nil))

	bumped := buildGraph(t, loadSpecFile(t, file, map[string]string{"KUBERNETES_VERSION": "v1.31.3", "KUBERNETES_CONTAINERD": "2.1.4"}))
	if graphDigest(t, bumped.OS) != graphDigest(t, base.OS) {
		t.Error("a Kubernetes version bump changed the OS graph")
	}
	if graphDigest(t, *bumped.Kubernetes) == graphDigest(t, *base.Kubernetes) {
		t.Error("a Kubernetes version bump did not change the Kubernetes graph")
	}
	if graphDigest(t, bumped.Rootfs) == graphDigest(t, base.Rootfs) {
		t.Error("a Kubernetes version bump did not change the rootfs")
	}
	// The disk is the cached OS disk, with the container runtime, plus
	// the rest of the Kubernetes layer.
	versionOnly := buildGraph(t, loadSpecFile(t, file, map[string]string{"KUBERNETES_VERSION": "v1.31.3"}))
	if base.OSDisk == nil || graphDigest(t, *versionOnly.OSDisk) != graphDigest(t, *base.OSDisk) {
		t.Error("a kubernetes.version bump changed the OS disk")
	}
	if graphDigest(t, versionOnly.Disk) == graphDigest(t, base.Disk) {
		t.Error("a kubernetes.version bump did not change the disk")
	}
	if graphDigest(t, *bumped.OSDisk) == graphDigest(t, *base.OSDisk) {
		t.Error("a containerd bump did not change the OS disk, which holds the runtime")
	}
	osDisk := dumpGraph(t, *base.OSDisk)
	for _, step := range []string{"install kubelet", "[release]", "configure containerd and kubelet"} {
		if strings.Contains(osDisk, step) {
			t.Errorf("the OS disk depends on %q", step)
		}
	}
	if !strings.Contains(osDisk, "install containerd") {
		t.Error("the OS disk lacks the container runtime")
	}

	osChange := buildGraph(t, loadSpecFile(t, file, map[string]string{"OS_PACKAGES": "chrony,curl"}))
	if graphDigest(t, *osChange.Kubernetes) != graphDigest(t, *base.Kubernetes) {
		t.Error("an OS package change changed the Kubernetes graph")
	}
	if graphDigest(t, osChange.OS) == graphDigest(t, base.OS) {
		t.Error("an OS package change did not change the OS graph")
	}
	if graphDigest(t, *osChange.OSDisk) == graphDigest(t, *base.OSDisk) {
		t.Error("an OS package change did not change the OS disk")
	}

	// The prerequisites step exists only for Kubernetes nodes.
	if !strings.Contains(dumpGraph(t, base.OS), "install Kubernetes node prerequisites") {
		t.Error("the OS graph of a Kubernetes node lacks the prerequisites step")
	}
	plain := buildGraph(t, loadSpec(t, nil))
	if strings.Contains(dumpGraph(t, plain.OS), "Kubernetes") {
		t.Error("a plain OS image got Kubernetes prerequisites")
	}
}

// TestExamplesBuild keeps every shipped example loadable and compilable.
func TestExamplesBuild(t *testing.T) {
	paths, err := filepath.Glob("../../examples/*.yaml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	for _, p := range append(paths, "../../e2e/testdata/k8s-node.yaml") {
		t.Run(filepath.Base(p), func(t *testing.T) {
			g := buildGraph(t, loadSpecFile(t, p, nil))
			if _, err := g.Disk.Marshal(context.Background()); err != nil {
				t.Fatalf("marshal: %v", err)
			}
		})
	}
}

// TestDistrosSayHowToAddInitrdModules: the provider targets append drivers
// to the initrd through the distro's own generator, so every distro must
// name it.
func TestDistrosSayHowToAddInitrdModules(t *testing.T) {
	for _, name := range overlays.Names() {
		d, _ := overlays.Lookup(name)
		if d.Defaults.VendorDiskOnly {
			// The vendor's disk keeps its initrd; only the datasources
			// are layered (guestOf).
			continue
		}
		if d.Initrd.ModulesFile == "" || d.Initrd.Rebuild == "" {
			t.Errorf("distro %s: Initrd %+v lacks the modules file or the rebuild command", name, d.Initrd)
		}
		if line := d.Initrd.ModuleLine(); strings.Count(line, "%s") != 1 || strings.ContainsAny(line, "'\n") {
			t.Errorf("distro %s: initrd line %q needs one %%s, no single quote and no newline", name, line)
		}
	}
}
