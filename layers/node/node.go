// Package node composes the layer graphs into a node image: the merged root
// filesystem, and the disk assembled from it. Like the layer packages it is
// pure (spec in, llb.State out), so its output is golden-tested.
package node

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"
	"github.com/strata-dev/strata/exporters/providers"
	"github.com/strata-dev/strata/layers/kubernetes"
	oslayer "github.com/strata-dev/strata/layers/os"
	"github.com/strata-dev/strata/layers/overlays"
	"github.com/strata-dev/strata/layers/sysext"
	"github.com/strata-dev/strata/llb/files"
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
	// KubernetesDigests are the verified sha256 of each Kubernetes artifact,
	// resolved by the frontend; unused without a kubernetes section.
	KubernetesDigests map[string]digest.Digest
	// KubernetesTree is the verified release tree the artifacts are copied
	// from in air-gapped builds; nil downloads them.
	KubernetesTree *kubernetes.Tree
	// StrataVersion goes into /etc/strata-release.
	StrataVersion string
}

// Graph holds the states a build can target.
type Graph struct {
	OS         llb.State
	Kubernetes *llb.State // nil without a kubernetes section
	// KubernetesSysext is a directory holding the Kubernetes payload as a
	// systemd-sysext image and its SHA256SUMS; nil without a kubernetes
	// section. install: sysext puts this image on the disk.
	KubernetesSysext *llb.State
	Overlay          llb.State
	Release          llb.State // /etc/strata-release
	Rootfs           llb.State
	Disk             llb.State // a directory holding disk.raw
	// Providers holds each provider's output directory, by provider name:
	// its image and manifest.json.
	Providers map[string]llb.State
}

// DiskFile is the disk's name in the disk target's output directory.
const DiskFile = "disk.raw"

// Build returns every graph of the node image. Each layer is its own graph
// and they meet only in the merge, so each is cached on its own.
func Build(in Input) (Graph, error) {
	img := in.Spec.Image
	g := Graph{Overlay: in.Distro.Graph(), Release: release(in)}
	var err error
	g.OS, err = oslayer.Build(oslayer.Input{Base: in.Base, OS: img.OS, Distro: in.Distro,
		KubernetesNode: img.Kubernetes != nil, Locate: in.Locate})
	if err != nil {
		return Graph{}, fmt.Errorf("os layer: %w", err)
	}
	layers := []llb.State{g.OS}
	names := []string{"os"}
	if k := img.Kubernetes; k != nil {
		layer, err := kubernetes.Build(kubernetes.Input{
			Kubernetes: k, Digests: in.KubernetesDigests, Tree: in.KubernetesTree,
			KubeletEnvFile: in.Distro.KubeletEnvFile, Locate: in.Locate,
		})
		if err != nil {
			return Graph{}, fmt.Errorf("kubernetes layer: %w", err)
		}
		tree := layer.Tree()
		g.Kubernetes = &tree
		ext := kubernetesExtension(k)
		image := sysext.Image(sysext.Input{Extension: ext, Payload: layer.Payload, Tools: in.Tools, Binary: ToolsBinary,
			Seed: in.Spec.Digest(), Epoch: in.Epoch, Located: located(in, "kubernetes.install")})
		g.KubernetesSysext = &image
		if k.Install == "sysext" {
			layers = append(layers, layer.Config, sysext.Install(ext, image, k.SysextImage().Updates))
			names = append(names, "kubernetes configuration", "kubernetes sysext")
		} else {
			layers = append(layers, layer.Payload, layer.Config)
			names = append(names, "kubernetes", "kubernetes configuration")
		}
	}
	// The overlay goes last among the layers so its small diff wins.
	layers = append(layers, g.Overlay, g.Release)
	names = append(names, in.Distro.Defaults.Name+" overlay", "release info")
	g.Rootfs = llb.Merge(layers, llb.WithCustomName("[rootfs] merge "+strings.Join(names, ", ")))
	g.Disk = assemble(in, g.Rootfs, img.Disk.Cmdline, "disk")
	g.Providers = make(map[string]llb.State, len(providers.All))
	for _, p := range providers.All {
		g.Providers[p.Name] = providerOutput(in, g, layers[1:], names[1:], p)
	}
	return g, nil
}

// release writes /etc/strata-release: which strata built the image from
// which spec. It is its own graph because it changes with every spec edit,
// and would otherwise drag a layer's cache along with it.
func release(in Input) llb.State {
	img := in.Spec.Image
	var b strings.Builder
	fmt.Fprintf(&b, "STRATA_VERSION=%s\nSPEC_NAME=%s\nSPEC_DIGEST=%s\n", in.StrataVersion, img.Name, in.Spec.Digest())
	if img.Kubernetes != nil {
		fmt.Fprintf(&b, "KUBERNETES_VERSION=%s\n", img.Kubernetes.Version)
	}
	if in.Epoch != nil {
		// A build date only when the user fixed it; otherwise every build
		// would differ.
		fmt.Fprintf(&b, "BUILD_DATE=%s\n", in.Epoch.UTC().Format(time.RFC3339))
	}
	return files.Write(files.Root(), []spec.File{{Path: "/etc/strata-release", Mode: "0644", Content: b.String()}},
		llb.WithCustomName("[release] write /etc/strata-release"))
}

// assemble runs `strata assemble` in the tools environment. The rootfs is
// mounted read-only and the network is off: assembly must depend on nothing
// but its inputs, or its cache entry would lie.
func assemble(in Input, rootfs llb.State, cmdline, step string) llb.State {
	img := in.Spec.Image
	args := []string{ToolsBinary, "assemble",
		"--rootfs", "/rootfs",
		"-o", "/out/" + DiskFile,
		"--size", strconv.FormatInt(int64(img.Disk.Size), 10),
		"--seed", in.Spec.Digest(),
		"--cmdline", cmdline,
		"--root-label", img.Disk.Root.Label,
		"--title", img.Name,
	}
	opts := []llb.RunOption{
		llb.Args(args),
		llb.Network(pb.NetMode_NONE),
		// No content hash of the whole tree for the cache key: reading
		// every file of the merged rootfs costs seconds on each rebuild,
		// and the merge's own key already says what is in it.
		llb.AddMount("/rootfs", rootfs, llb.Readonly, llb.ContentCache(llb.MountContentCacheOff)),
		llb.WithCustomName(fmt.Sprintf("[%s] assemble %s (%s, %s)", step, DiskFile, img.Disk.Size, img.Disk.Boot)),
	}
	if in.Epoch != nil {
		opts = append(opts, llb.AddEnv("SOURCE_DATE_EPOCH", strconv.FormatInt(in.Epoch.Unix(), 10)))
	}
	for _, loc := range located(in, "disk") {
		opts = append(opts, loc)
	}
	run := in.Tools.Run(opts...)
	return run.AddMount("/out", llb.Scratch())
}

// kubernetesExtension names the Kubernetes sysext after the release it
// carries.
func kubernetesExtension(k *spec.Kubernetes) sysext.Extension {
	return sysext.Extension{Name: "kubernetes", Version: k.Version, Format: k.SysextImage().Format}
}

// located returns the constraint that tags a step with field's YAML
// location, or none.
func located(in Input, field string) []llb.ConstraintsOpt {
	if in.Locate == nil {
		return nil
	}
	if loc := in.Locate(field); loc != nil {
		return []llb.ConstraintsOpt{loc}
	}
	return nil
}
