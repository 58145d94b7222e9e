// Package frontend is strata's BuildKit frontend: the gateway BuildFunc. It
// is glue only: it reads options and the spec through the gateway, routes the
// target, resolves named contexts, and hands pure graphs (layers/...) to
// BuildKit. The same function runs in-process under `strata build` and as the
// entrypoint of the frontend image.
package frontend

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/frontend/dockerui"
	gwclient "github.com/moby/buildkit/frontend/gateway/client"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/strata-dev/strata/layers/node"
	"github.com/strata-dev/strata/layers/overlays"

	// The distro overlays register themselves.
	_ "github.com/strata-dev/strata/layers/overlays/debian"
	_ "github.com/strata-dev/strata/layers/overlays/flatcar"
	_ "github.com/strata-dev/strata/layers/overlays/rhel"
	_ "github.com/strata-dev/strata/layers/overlays/ubuntu"
)

// Version is strata's version, set at link time with
// -ldflags "-X github.com/strata-dev/strata/frontend.Version=v0.1.0". It is
// recorded in /etc/strata-release.
var Version = "dev"

// Build compiles the node-image spec named by the build's "filename" option
// into LLB, solves the requested target and returns it.
func Build(ctx context.Context, c gwclient.Client) (res *gwclient.Result, err error) {
	// A panic would otherwise reach the user as "exit status 2" with no text.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("strata frontend panicked (please report this): %v\n%s", r, debug.Stack())
		}
	}()

	bc, err := dockerui.NewClient(c)
	if err != nil {
		return nil, fmt.Errorf("reading build options: %w", err)
	}
	if res, handled, err := bc.HandleSubrequest(ctx, dockerui.RequestHandler{ListTargets: listTargets, Outline: outlineFor(bc)}); handled || err != nil {
		return res, err
	}

	if err := requireCaps(c.BuildOpts()); err != nil {
		return nil, err
	}
	if bc.Target != "" {
		// An unknown target fails before the spec is even read.
		if _, err := lookupTarget(bc.Target); err != nil {
			return nil, err
		}
	}
	src, err := bc.ReadEntrypoint(ctx, "yaml")
	if err != nil {
		return nil, fmt.Errorf("reading the spec: %w", err)
	}
	sp, err := loadSpec(src, bc.BuildArgs)
	if err != nil {
		return nil, err
	}
	target, err := targetFor(bc.Target, sp)
	if err != nil {
		return nil, err
	}
	if target.check != nil {
		if err := target.check(sp); err != nil {
			return nil, withSource(err, src)
		}
	}
	distro, _ := overlays.Lookup(sp.Image.OS.Distro) // validated by loadSpec

	// The Kubernetes layer starts from scratch: building it alone needs no
	// base image, so none has to be resolved or passed.
	base, baseImg := llb.Scratch(), (*dockerspec.DockerOCIImage)(nil)
	var vendor *node.VendorDisk
	switch {
	case sp.Image.OS.BaseDisk != nil:
		// Lazy like any source: a target without the disk fetches nothing.
		if vendor, err = vendorDisk(ctx, bc, sp, src); err != nil {
			return nil, err
		}
	case target.needsBase:
		if base, baseImg, err = baseImage(ctx, c, bc, sp, src); err != nil {
			return nil, err
		}
	}
	in := node.Input{
		Spec:          sp,
		Distro:        distro,
		Base:          base,
		Tools:         base, // replaced below when the target needs assembly
		Locate:        locator(sp, src),
		Epoch:         bc.Epoch,
		StrataVersion: Version,
		BaseDisk:      vendor,
	}
	if sp.Image.Kubernetes != nil {
		if in.KubernetesDigests, in.KubernetesTree, err = kubernetesArtifacts(ctx, c, bc, sp, src); err != nil {
			return nil, err
		}
	}
	if target.needsTools(sp) {
		if in.Tools, err = toolsEnv(ctx, c, bc); err != nil {
			return nil, err
		}
	}
	graph, err := node.Build(in)
	if err != nil {
		return nil, err
	}

	rb, err := bc.Build(ctx, func(ctx context.Context, platform *ocispecs.Platform, idx int) (*dockerui.BuildResult, error) {
		st, err := target.state(graph)
		if err != nil {
			return nil, err
		}
		def, err := st.Marshal(ctx)
		if err != nil {
			return nil, fmt.Errorf("marshalling the %s graph: %w", target.name, err)
		}
		r, err := c.Solve(ctx, gwclient.SolveRequest{Definition: def.ToPB(), CacheImports: bc.CacheImports})
		if err != nil {
			return nil, err
		}
		ref, err := r.SingleRef()
		if err != nil {
			return nil, err
		}
		return &dockerui.BuildResult{Reference: ref, Image: imageConfig(baseImg, sp, target), BaseImage: baseImg, Epoch: bc.Epoch}, nil
	})
	if err != nil {
		return nil, err
	}
	return rb.Finalize()
}
