package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/strata-dev/strata/e2e/releaseserver"
)

// treeFormat is part of the cache key. Bump it when the way the tree is
// laid out changes for the same inputs (a new checksum file, a different
// tar member layout), so stale trees are not reused.
const treeFormat = "release-tree-v1"

// inputs is everything that decides a tree's content.
type inputs struct {
	debs   map[string]debPin // by package name
	kube   *goBuild
	crictl *goBuild
	// The image tarballs' builds (images.go).
	kubeProxy *goBuild
	pause     *pauseBuild
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
	if in.crictl, err = crictlTool.resolve(ctx, repo); err != nil {
		return nil, err
	}
	if in.kubeProxy, err = kubeProxyTool.resolve(ctx, repo); err != nil {
		return nil, err
	}
	if in.pause, err = resolvePause(ctx, in.kube); err != nil {
		return nil, err
	}
	return in, nil
}

// release is the versions the tree serves. The Debian packages' upstream
// versions stand for the upstream releases they were built from.
func (in *inputs) release() releaseserver.Release {
	return releaseserver.Release{
		Kubernetes: in.kube.release.Version,
		Containerd: upstreamVersion(in.debs[containerdDeb.Package].Version),
		Runc:       upstreamVersion(in.debs[runcDeb.Package].Version),
		Crictl:     strings.TrimPrefix(in.crictl.release.Version, "v"),
		CNI:        upstreamVersion(in.debs[cniDeb.Package].Version),
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
	b.WriteString(in.crictl.describe())
	b.WriteString(in.kubeProxy.describe())
	b.WriteString(in.pause.describe())
	return b.String()
}

func (in *inputs) key() string { return shortDigest(in.describe()) }
