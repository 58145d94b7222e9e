package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/strata-dev/strata/e2e/releaseserver"
)

// treeFormat is part of the cache key. Bump it when the way the tree is
// laid out changes for the same inputs (a new checksum file, a different
// tar member layout), so stale trees are not reused.
const treeFormat = "release-tree-v1"

// inputs is everything that decides a tree's content.
type inputs struct {
	debs     map[string]debPin // by package name
	kube     *goBuild
	kubePrev *goBuild // the previous Kubernetes release
	crictl   *goBuild
	// The image tarballs' builds (images.go, controlplane.go).
	kubeProxy    *goBuild
	pause        *pauseBuild
	controlPlane *goBuild // kube-apiserver, kube-controller-manager, kube-scheduler
	etcd         *goBuild
	coredns      *goBuild
	kubeadm      *kubeadmPins // the etcd and CoreDNS versions kubeadm runs
}

// gatherInputs resolves the Debian packages apt would fetch and the Go
// builds the nested modules under repo pin.
func gatherInputs(ctx context.Context, repo string) (*inputs, error) {
	in := &inputs{debs: map[string]debPin{}}
	pins, err := resolveDebs(ctx, debSources)
	if err != nil {
		return nil, err
	}
	for _, p := range pins {
		in.debs[p.Package] = p
	}
	if in.kube, err = kubeTool.resolve(ctx, repo); err != nil {
		return nil, err
	}
	if in.kubePrev, err = kubePreviousTool.resolve(ctx, repo); err != nil {
		return nil, err
	}
	// A bump between the two must be an upgrade: the same release twice
	// would lay both out at one path, and a newer "previous" means the
	// pins were moved without each other.
	if !olderRelease(in.kubePrev.release.Version, in.kube.release.Version) {
		return nil, fmt.Errorf("%s pins Kubernetes %s, not older than the %s that %s pins; move it with e2e/k8stools/pin.sh VERSION previous",
			kubePreviousTool.ModDir, in.kubePrev.release.Version, in.kube.release.Version, kubeTool.ModDir)
	}
	if in.crictl, err = crictlTool.resolve(ctx, repo); err != nil {
		return nil, err
	}
	if in.kubeProxy, err = kubeProxyTool.resolve(ctx, repo); err != nil {
		return nil, err
	}
	if in.pause, err = resolvePause(ctx, in.kube); err != nil {
		return nil, err
	}
	if in.controlPlane, err = controlPlaneTool.resolve(ctx, repo); err != nil {
		return nil, err
	}
	if err := checkSameRelease(in.kube, in.controlPlane); err != nil {
		return nil, err
	}
	if in.kubeadm, err = resolveKubeadmPins(ctx, in.kube); err != nil {
		return nil, err
	}
	if in.etcd, err = etcdTool.resolve(ctx, repo); err != nil {
		return nil, err
	}
	if in.coredns, err = corednsTool.resolve(ctx, repo); err != nil {
		return nil, err
	}
	if err := in.kubeadm.check(in.etcd, in.coredns); err != nil {
		return nil, err
	}
	return in, nil
}

// olderRelease reports whether Kubernetes release a ("v1.36.2") comes
// before b. Anything not of that form (a pre-release, a pseudo-version)
// is not a release the fixture serves, and counts as not older.
func olderRelease(a, b string) bool {
	va, oka := releaseNumbers(a)
	vb, okb := releaseNumbers(b)
	return oka && okb && slices.Compare(va, vb) < 0
}

func releaseNumbers(v string) ([]int, bool) {
	var n [3]int
	var rest string
	if c, _ := fmt.Sscanf(v+"$", "v%d.%d.%d%s", &n[0], &n[1], &n[2], &rest); c != 4 || rest != "$" {
		return nil, false
	}
	return n[:], true
}

// release is the versions the tree serves. The Debian packages' upstream
// versions stand for the upstream releases they were built from.
func (in *inputs) release() releaseserver.Release {
	return releaseserver.Release{
		Kubernetes:         in.kube.release.Version,
		PreviousKubernetes: in.kubePrev.release.Version,
		Containerd:         upstreamVersion(in.debs[containerdDeb.Package].Version),
		Runc:               upstreamVersion(in.debs[runcDeb.Package].Version),
		Crictl:             strings.TrimPrefix(in.crictl.release.Version, "v"),
		CNI:                upstreamVersion(in.debs[cniDeb.Package].Version),
	}
}

// describe renders the inputs as the text the cache key hashes; it is also
// kept next to the tree to explain a cache miss.
func (in *inputs) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "format: %s\n", treeFormat)
	for _, s := range debSources {
		fmt.Fprintf(&b, "deb: %s=%s\n", s.Package, in.debs[s.Package].Version)
	}
	b.WriteString(in.kube.describe())
	b.WriteString(in.kubePrev.describe())
	b.WriteString(in.crictl.describe())
	b.WriteString(in.kubeProxy.describe())
	b.WriteString(in.pause.describe())
	b.WriteString(in.controlPlane.describe())
	b.WriteString(in.kubeadm.describe())
	b.WriteString(in.etcd.describe())
	b.WriteString(in.coredns.describe())
	return b.String()
}

func (in *inputs) key() string { return shortDigest(in.describe()) }
