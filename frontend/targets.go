package frontend

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/frontend/subrequests/targets"
	"github.com/strata-dev/strata/layers/node"
)

// target is one thing a build can produce (`--target NAME`).
type target struct {
	name        string
	description string
	state       func(node.Graph) (llb.State, error)
	needsTools  bool // assembly runs strata and mke2fs in the tools environment
}

// defaultTarget is what a build without --target produces: the thing users
// come for.
const defaultTarget = "disk"

var allTargets = []target{
	{name: "os", description: "the OS layer as an OCI image",
		state: func(g node.Graph) (llb.State, error) { return g.OS, nil }},
	{name: "kubernetes", description: "the Kubernetes layer on its own, as an OCI image",
		state: func(g node.Graph) (llb.State, error) {
			if g.Kubernetes == nil {
				return llb.State{}, errors.New("target kubernetes: the spec has no kubernetes section")
			}
			return *g.Kubernetes, nil
		}},
	{name: "rootfs", description: "the merged root filesystem tree",
		state: func(g node.Graph) (llb.State, error) { return g.Rootfs, nil }},
	{name: "disk", description: "a bootable GPT disk: " + node.DiskFile, needsTools: true,
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
