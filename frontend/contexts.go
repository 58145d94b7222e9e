package frontend

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/distribution/reference"
	"github.com/moby/buildkit/client/llb/sourceresolver"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/frontend/dockerui"
	gwclient "github.com/moby/buildkit/frontend/gateway/client"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/strata-dev/strata/layers/node"
	"github.com/strata-dev/strata/spec"
)

// Named build contexts the frontend reads (`--build-context NAME=...`).
const (
	// ContextOSBase overrides os.base, e.g. with an OCI layout made by mmdebstrap.
	ContextOSBase = "os-base"
	// ContextTools is a root filesystem with mke2fs, used for disk assembly
	// when strata does not run as a frontend image.
	ContextTools = "strata-tools"
	// ContextBinary is a directory holding a static `strata` binary that is
	// copied into the tools environment; the CLI sends its own.
	ContextBinary = "strata-binary"
)

// baseImage resolves the OS base: the os-base context wins, then a context
// named like os.base (buildx's way of overriding an image), then the image.
func baseImage(ctx context.Context, c gwclient.Client, bc *dockerui.Client, sp *spec.Spec, src *dockerui.Source) (llb.State, *dockerspec.DockerOCIImage, error) {
	names := []string{ContextOSBase}
	if ref := sp.Image.OS.Base; ref != "" {
		names = append(names, ref)
	}
	for _, name := range names {
		st, img, err := namedContext(ctx, bc, name)
		if err != nil {
			return llb.State{}, nil, err
		}
		if st != nil {
			return *st, img, nil
		}
	}
	ref := sp.Image.OS.Base
	if ref == "" {
		return llb.State{}, nil, withSource(&spec.Error{
			File:  sp.File,
			Pos:   positionOr(sp, "os.base", "os"),
			Field: "os.base",
			Message: "no base image: set os.base to an image reference, " +
				"or pass the build context " + ContextOSBase + " (e.g. --build-context " + ContextOSBase + "=oci-layout:///path/to/layout@sha256:...)",
		}, src)
	}
	st, img, err := pullImage(ctx, c, ref)
	if err != nil {
		return llb.State{}, nil, withSource(&spec.Error{
			File: sp.File, Pos: positionOr(sp, "os.base", "os"), Field: "os.base",
			Message: fmt.Sprintf("cannot resolve the base image %s: %v; %s", ref, err, baseImageHint(ref, err)),
		}, src)
	}
	return st, img, nil
}

func positionOr(sp *spec.Spec, fields ...string) spec.Pos {
	for _, f := range fields {
		if p, ok := sp.Position(f); ok {
			return p
		}
	}
	return spec.Pos{Line: 1, Column: 1}
}

func namedContext(ctx context.Context, bc *dockerui.Client, name string) (*llb.State, *dockerspec.DockerOCIImage, error) {
	nc, err := bc.NamedContext(name, dockerui.ContextOpt{})
	if err != nil || nc == nil {
		return nil, nil, err
	}
	st, img, err := nc.Load(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("build context %s: %w", name, err)
	}
	return st, img, nil
}

// pullImage resolves an image reference to its config first, so the
// image's env and digest pin the build like a Dockerfile's FROM does.
func pullImage(ctx context.Context, c gwclient.Client, ref string) (llb.State, *dockerspec.DockerOCIImage, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return llb.State{}, nil, err
	}
	ref = reference.TagNameOnly(named).String()
	_, dgst, data, err := c.ResolveImageConfig(ctx, ref, sourceresolver.Opt{
		LogName: "[os] load metadata for " + ref,
	})
	if err != nil {
		return llb.State{}, nil, err
	}
	var img dockerspec.DockerOCIImage
	if err := json.Unmarshal(data, &img); err != nil {
		return llb.State{}, nil, fmt.Errorf("parsing image config: %w", err)
	}
	if dgst != "" {
		if d, err := reference.WithDigest(named, dgst); err == nil {
			ref = d.String()
		}
	}
	st, err := llb.Image(ref, llb.WithCustomName("[os] base "+ref)).WithImageConfig(data)
	if err != nil {
		return llb.State{}, nil, err
	}
	return st, &img, nil
}

// ToolsEnv is the environment strata's own steps run in, for a client that
// solves steps of its own around Build (strata build's direct reads).
func ToolsEnv(ctx context.Context, c gwclient.Client) (llb.State, error) {
	bc, err := dockerui.NewClient(c)
	if err != nil {
		return llb.State{}, err
	}
	return toolsEnv(ctx, c, bc)
}

// toolsEnv is where `strata assemble` runs. As a frontend image, it is that
// very image; in CLI mode it is the strata-tools context plus the CLI's binary.
func toolsEnv(ctx context.Context, c gwclient.Client, bc *dockerui.Client) (llb.State, error) {
	if cf, ok := c.(interface {
		CurrentFrontend() (*llb.State, error)
	}); ok {
		st, err := cf.CurrentFrontend()
		if err != nil {
			return llb.State{}, fmt.Errorf("loading the frontend image as tools environment: %w", err)
		}
		if st != nil {
			return *st, nil
		}
	}
	tools, _, err := namedContext(ctx, bc, ContextTools)
	if err != nil {
		return llb.State{}, err
	}
	if tools == nil {
		return llb.State{}, fmt.Errorf("the disk target needs a tools environment with mke2fs: " +
			"run strata as a frontend image (BUILDKIT_SYNTAX), or pass --tools-image IMAGE / --build-context " + ContextTools + "=...")
	}
	bin, _, err := namedContext(ctx, bc, ContextBinary)
	if err != nil {
		return llb.State{}, err
	}
	if bin == nil {
		return *tools, nil
	}
	return tools.File(llb.Copy(*bin, "strata", node.ToolsBinary, &llb.CopyInfo{CreateDestPath: true}),
		llb.WithCustomName("[tools] add strata binary")), nil
}

// imageConfig is the OCI config of an image-shaped result: the base's config
// for the OS layer, so `os` exports as a usable image.
func imageConfig(base *dockerspec.DockerOCIImage, sp *spec.Spec, t target) *dockerspec.DockerOCIImage {
	img := &dockerspec.DockerOCIImage{}
	if base != nil {
		*img = *base
	}
	img.OS, img.Architecture = "linux", "amd64"
	labels := map[string]string{}
	for k, v := range img.Config.Labels {
		labels[k] = v
	}
	img.Config.Labels = labels
	img.Config.Labels["dev.strata.spec.digest"] = sp.Digest()
	img.Config.Labels["dev.strata.target"] = t.name
	return img
}
