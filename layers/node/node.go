// Package node composes the layer graphs into a node image: the merged root
// filesystem, and the disk assembled from it. Like the layer packages it is
// pure (spec in, llb.State out), so its output is golden-tested.
package node

import (
	"fmt"
	"strconv"
	"time"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	oslayer "github.com/strata-dev/strata/layers/os"
	"github.com/strata-dev/strata/layers/overlays"
	"github.com/strata-dev/strata/spec"
)

// ToolsBinary is where the strata binary sits in the tools environment. The
// frontend image puts it there, and CLI mode copies the CLI's own binary there.
const ToolsBinary = "/usr/local/bin/strata"

// Input is what a node image is made from.
type Input struct {
	Spec   *spec.Spec
	Distro overlays.Distro
	Base   llb.State // the OS base image
	Tools  llb.State // a root filesystem with ToolsBinary and mke2fs
	Locate oslayer.Locator
	// Epoch is SOURCE_DATE_EPOCH when the user set it: it pins the disk's
	// timestamps so that two builds give the same bytes.
	Epoch *time.Time
}

// Graph holds the states a build can target.
type Graph struct {
	OS      llb.State
	Overlay llb.State
	Rootfs  llb.State
	Disk    llb.State // a directory holding disk.raw
}

// DiskFile is the disk's name in the disk target's output directory.
const DiskFile = "disk.raw"

// Build returns every graph of the node image. Each layer is its own graph
// and they meet only in the merge, so each is cached on its own.
func Build(in Input) (Graph, error) {
	img := in.Spec.Image
	osState, err := oslayer.Build(oslayer.Input{Base: in.Base, OS: img.OS, Distro: in.Distro, Locate: in.Locate})
	if err != nil {
		return Graph{}, fmt.Errorf("os layer: %w", err)
	}
	overlay := in.Distro.Graph()
	rootfs := llb.Merge([]llb.State{osState, overlay}, llb.WithCustomName("[rootfs] merge os and "+in.Distro.Defaults.Name+" overlay"))
	return Graph{
		OS:      osState,
		Overlay: overlay,
		Rootfs:  rootfs,
		Disk:    assemble(in, rootfs),
	}, nil
}

// assemble runs `strata assemble` in the tools environment. The rootfs is
// mounted read-only and the network is off: assembly must depend on nothing
// but its inputs, or its cache entry would lie.
func assemble(in Input, rootfs llb.State) llb.State {
	img := in.Spec.Image
	args := []string{ToolsBinary, "assemble",
		"--rootfs", "/rootfs",
		"-o", "/out/" + DiskFile,
		"--size", strconv.FormatInt(int64(img.Disk.Size), 10),
		"--seed", in.Spec.Digest(),
		"--cmdline", img.Disk.Cmdline,
		"--root-label", img.Disk.Root.Label,
		"--title", img.Name,
	}
	opts := []llb.RunOption{
		llb.Args(args),
		llb.Network(pb.NetMode_NONE),
		llb.AddMount("/rootfs", rootfs, llb.Readonly),
		llb.WithCustomName(fmt.Sprintf("[disk] assemble %s (%s, %s)", DiskFile, img.Disk.Size, img.Disk.Boot)),
	}
	if in.Epoch != nil {
		opts = append(opts, llb.AddEnv("SOURCE_DATE_EPOCH", strconv.FormatInt(in.Epoch.Unix(), 10)))
	}
	if in.Locate != nil {
		if loc := in.Locate("disk"); loc != nil {
			opts = append(opts, loc)
		}
	}
	run := in.Tools.Run(opts...)
	return run.AddMount("/out", llb.Scratch())
}
