package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// The control plane's images, so that a node built from the tree runs
// `kubeadm init` with nothing from the network: kube-apiserver,
// kube-controller-manager and kube-scheduler of the pinned release, and
// etcd and CoreDNS at the versions kubeadm of that release names (its
// constants.go, checked against their pins here). images.go says how far
// each is upstream's.

// controlPlaneTool builds the control plane's commands from the release
// kubeTool pins, with the same flags. Its module, e2e/k8stools/controlplane,
// pins the same release: kube-apiserver and kube-controller-manager need
// modules (go-oidc, kube-aggregator, ...) that the kubelet's go.sum lacks,
// and adding them there would change its digest and rebuild the kubelet.
// The two modules select the same versions of everything they share, so
// the Go build cache compiles those once.
var controlPlaneTool = goTool{
	Name:   "control-plane",
	ModDir: "e2e/k8stools/controlplane",
	// The release is k8s.io/kubernetes, as for kubeTool; gatherInputs
	// refuses the two modules at different versions.
	Release: kubeTool.Release,
	Packages: []string{
		"k8s.io/kubernetes/cmd/kube-apiserver",
		"k8s.io/kubernetes/cmd/kube-controller-manager",
		"k8s.io/kubernetes/cmd/kube-scheduler",
	},
	Flags:   kubeTool.Flags,
	LDFlags: kubeLDFlags,
}

// etcdTool builds etcd as etcd's scripts/build_lib.sh does for a release:
// static, trimmed paths, from the server module's main package, not
// stripped. The build script stamps the commit's short hash into
// api/v3/version.GitSHA; the module proxy tells none for etcd's
// submodule tags, and `etcd --version` then says so ("Not provided")
// rather than carry a made-up one.
var etcdTool = goTool{
	Name:     "etcd",
	ModDir:   "e2e/k8stools/etcd",
	Release:  "go.etcd.io/etcd/server/v3",
	Packages: []string{"go.etcd.io/etcd/server/v3"},
	Flags:    []string{"-trimpath"},
	LDFlags: func(m module) string {
		return stampCommit("go.etcd.io/etcd/api/v3/version.GitSHA", m)
	},
}

// corednsTool builds CoreDNS as its Makefile does (static, stripped, the
// grpcnotrace tag), plus -trimpath, so no path of this machine lands in the
// binary. The Makefile stamps `git describe` into coremain.GitCommit, the
// last field `coredns -version` prints; it is the commit's short hash when
// the module proxy tells one, and empty otherwise.
var corednsTool = goTool{
	Name:     "coredns",
	ModDir:   "e2e/k8stools/coredns",
	Release:  "github.com/coredns/coredns",
	Packages: []string{"github.com/coredns/coredns"},
	Flags:    []string{"-trimpath", "-tags=grpcnotrace"},
	LDFlags: func(m module) string {
		return strings.TrimSpace("-s -w " + stampCommit("github.com/coredns/coredns/coremain.GitCommit", m))
	},
}

// stampCommit sets variable to the release commit's short hash, as `git
// rev-parse --short` gives it, or to nothing when the proxy tells none.
func stampCommit(variable string, m module) string {
	if m.Origin == nil || len(m.Origin.Hash) < 7 {
		return ""
	}
	return "-X " + variable + "=" + m.Origin.Hash[:7]
}

// kubeadmPins are the add-on versions kubeadm of the pinned release
// deploys: the images `kubeadm config images list` names besides the
// release's own.
type kubeadmPins struct {
	kubernetes string // the release they were read from
	etcdTag    string // "3.6.8-0": etcd's version, then the image's revision
	coreDNS    string // "v1.14.2"
}

// kubeadmConstants is where kubeadm keeps the versions, in the
// k8s.io/kubernetes module.
const kubeadmConstants = "cmd/kubeadm/app/constants/constants.go"

var (
	coreDNSVersionDecl = regexp.MustCompile(`\bCoreDNSVersion\s*=\s*"([^"]+)"`)
	defaultEtcdDecl    = regexp.MustCompile(`\bDefaultEtcdVersion\s*=\s*"([^"]+)"`)
	etcdVersionsDecl   = regexp.MustCompile(`\bSupportedEtcdVersion\s*=\s*map\[uint8\]string\{([^}]*)\}`)
	etcdVersionsEntry  = regexp.MustCompile(`(\d+)\s*:\s*"([^"]+)"`)
)

// resolveKubeadmPins reads the versions from kubeadm's constants.go in the
// module kube builds from.
func resolveKubeadmPins(ctx context.Context, kube *goBuild) (*kubeadmPins, error) {
	modDir, err := kube.releaseDir(ctx)
	if err != nil {
		return nil, fmt.Errorf("kubeadm's versions: %w", err)
	}
	src, err := os.ReadFile(filepath.Join(modDir, filepath.FromSlash(kubeadmConstants)))
	if err != nil {
		return nil, fmt.Errorf("kubeadm's versions: %w", err)
	}
	p, err := parseKubeadmConstants(src, kube.release.Version)
	if err != nil {
		return nil, fmt.Errorf("%s of %s %s: %w", kubeadmConstants, kube.tool.Release, kube.release.Version, err)
	}
	return p, nil
}

// parseKubeadmConstants picks the etcd version as kubeadm's
// GetEtcdImageTag does for the release: SupportedEtcdVersion's entry for
// its minor, or the nearest entry when the minor is outside the map, or
// DefaultEtcdVersion when the minor falls in a gap of the map.
func parseKubeadmConstants(src []byte, release string) (*kubeadmPins, error) {
	v, ok := releaseNumbers(release)
	if !ok {
		return nil, fmt.Errorf("kubeadm's versions: %q is not a release version", release)
	}
	p := &kubeadmPins{kubernetes: release}
	m := coreDNSVersionDecl.FindSubmatch(src)
	if m == nil {
		return nil, fmt.Errorf("no CoreDNSVersion = \"...\"")
	}
	p.coreDNS = string(m[1])

	m = etcdVersionsDecl.FindSubmatch(src)
	if m == nil {
		return nil, fmt.Errorf("no SupportedEtcdVersion = map[uint8]string{...}")
	}
	byMinor := map[int]string{}
	for _, e := range etcdVersionsEntry.FindAllSubmatch(m[1], -1) {
		minor, err := strconv.Atoi(string(e[1]))
		if err != nil {
			return nil, fmt.Errorf("SupportedEtcdVersion: %w", err)
		}
		byMinor[minor] = string(e[2])
	}
	if len(byMinor) == 0 {
		return nil, fmt.Errorf("SupportedEtcdVersion has no entries")
	}
	minors := slices.Sorted(maps.Keys(byMinor))
	if p.etcdTag = byMinor[min(max(v[1], minors[0]), minors[len(minors)-1])]; p.etcdTag != "" {
		return p, nil
	}
	if m = defaultEtcdDecl.FindSubmatch(src); m == nil {
		return nil, fmt.Errorf("SupportedEtcdVersion has no entry for minor %d, and there is no DefaultEtcdVersion = \"...\"", v[1])
	}
	p.etcdTag = string(m[1])
	return p, nil
}

// etcdVersion is the etcd release the image tag names: the tag less its
// image revision.
func (p *kubeadmPins) etcdVersion() string {
	version, _, _ := strings.Cut(p.etcdTag, "-")
	return "v" + version
}

// check fails unless the etcd and CoreDNS modules pin the versions
// kubeadm names, so a Kubernetes bump that forgets them fails here and
// not in a kubeadm init that waits for an image nobody serves.
func (p *kubeadmPins) check(etcd, coredns *goBuild) error {
	for _, c := range []struct {
		b    *goBuild
		want string
		decl string
	}{
		{etcd, p.etcdVersion(), "SupportedEtcdVersion names " + p.etcdTag},
		{coredns, p.coreDNS, "CoreDNSVersion is " + p.coreDNS},
	} {
		if c.b.release.Version != c.want {
			return fmt.Errorf("%s pins %s %s, but kubeadm %s deploys %s (%s in %s); move it with\n\t(cd %s && go get %s@%s && go mod tidy)",
				c.b.tool.ModDir, c.b.tool.Release, c.b.release.Version, p.kubernetes, c.want, c.decl, kubeadmConstants,
				c.b.tool.ModDir, c.b.tool.Release, c.want)
		}
	}
	return nil
}

func (p *kubeadmPins) describe() string {
	return fmt.Sprintf("kubeadm %s images: etcd %s coredns %s\n", p.kubernetes, p.etcdTag, p.coreDNS)
}

// etcdImage and etcdPath are the etcd image's name, as kubeadm's static
// pod runs it, and its tarball's URL path, under the fixture's own
// /e2e-images/ as pause's is.
func (p *kubeadmPins) etcdImage() string { return "registry.k8s.io/etcd:" + p.etcdTag }
func (p *kubeadmPins) etcdPath() string  { return "/e2e-images/etcd-" + p.etcdTag + ".tar" }

// corednsImage and corednsPath are the same for CoreDNS, which kubeadm
// pulls from the coredns/ repository under its default registry.
func (p *kubeadmPins) corednsImage() string { return "registry.k8s.io/coredns/coredns:" + p.coreDNS }
func (p *kubeadmPins) corednsPath() string  { return "/e2e-images/coredns-" + p.coreDNS + ".tar" }

// checkSameRelease fails unless the control plane's module pins the
// release the kubelet's does: pin.sh moves both.
func checkSameRelease(kube, controlPlane *goBuild) error {
	if controlPlane.release.Version != kube.release.Version {
		return fmt.Errorf("%s pins %s %s, but %s pins %s; run e2e/k8stools/pin.sh %s",
			controlPlane.tool.ModDir, controlPlane.tool.Release, controlPlane.release.Version,
			kube.tool.ModDir, kube.release.Version, kube.release.Version)
	}
	return nil
}
