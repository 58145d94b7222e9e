package frontend

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/frontend/subrequests/targets"
	"github.com/strata-dev/strata/layers/node"
	"github.com/strata-dev/strata/spec"
)

// target is one thing a build can produce (`--target NAME`).
type target struct {
	name        string
	description string
	state       func(node.Graph) (llb.State, error)
	// needsTools says whether the target runs strata and mke2fs, mksquashfs
	// or mkfs.erofs in the tools environment.
	needsTools func(*spec.Spec) bool
	// needsBase says whether the target contains the OS layer.
	needsBase bool
}

func always(*spec.Spec) bool { return true }
func never(*spec.Spec) bool  { return false }

// whenSysext: with install: sysext the root filesystem carries a sysext
// image, which the tools pack.
func whenSysext(s *spec.Spec) bool {
	return s.Image.Kubernetes != nil && s.Image.Kubernetes.Install == "sysext"
}

// defaultTarget is what a build without --target produces: the thing users
// come for.
const defaultTarget = "disk"

var allTargets = []target{
	{name: "os", needsBase: true, description: "the OS layer as an OCI image", needsTools: never,
		state: func(g node.Graph) (llb.State, error) { return g.OS, nil }},
	{name: "kubernetes", description: "the Kubernetes layer on its own, as an OCI image", needsTools: never,
		state: func(g node.Graph) (llb.State, error) {
			if g.Kubernetes == nil {
				return llb.State{}, errors.New("target kubernetes: the spec has no kubernetes section")
			}
			return *g.Kubernetes, nil
		}},
	{name: "kubernetes-sysext", description: "the Kubernetes layer's /usr and /opt as a systemd-sysext image, with SHA256SUMS", needsTools: always,
		state: func(g node.Graph) (llb.State, error) {
			if g.KubernetesSysext == nil {
				return llb.State{}, errors.New("target kubernetes-sysext: the spec has no kubernetes section")
			}
			return *g.KubernetesSysext, nil
		}},
	{name: "rootfs", needsBase: true, description: "the merged root filesystem tree", needsTools: whenSysext,
		state: func(g node.Graph) (llb.State, error) { return g.Rootfs, nil }},
	{name: "disk", needsBase: true, description: "a bootable GPT disk: " + node.DiskFile, needsTools: always,
		state: func(g node.Graph) (llb.State, error) { return g.Disk, nil }},
}

func lookupTarget(name string) (target, error) {
	if name == "" {
		name = defaultTarget
	}
	names := make([]string, 0, len(allTargets))
	for _, t := range allTargets {
		if t.name == name {
			return t, nil
		}
		names = append(names, t.name)
	}
	return target{}, fmt.Errorf("unknown target %q: strata builds %s", name, strings.Join(names, ", "))
}

// listTargets answers `--call targets`.
func listTargets(context.Context) (*targets.List, error) {
	list := &targets.List{}
	for _, t := range allTargets {
		list.Targets = append(list.Targets, targets.Target{
			Name:        t.name,
			Description: t.description,
			Default:     t.name == defaultTarget,
		})
	}
	return list, nil
}
