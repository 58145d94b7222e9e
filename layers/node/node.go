// Package node composes the layer graphs into a node image: the merged root
// filesystem, and the disk assembled from it. Like the layer packages it is
// pure (spec in, llb.State out), so its output is golden-tested.
package node

import (
	"fmt"
	"slices"
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
	// Epoch is SOURCE_DATE_EPOCH when the user set it, nil otherwise. Every
	// step gets the effective epoch (see contentEpoch); only a user's goes
	// into /etc/strata-release as the build date.
	Epoch *time.Time
	// KubernetesDigests are the verified sha256 of each Kubernetes artifact,
	// resolved by the frontend; unused without a kubernetes section.
	KubernetesDigests map[string]digest.Digest
	// KubernetesTree is the verified release tree the artifacts are copied
	// from in air-gapped builds; nil downloads them.
	KubernetesTree *kubernetes.Tree
	// StrataVersion goes into /etc/strata-release.
	StrataVersion string
	// BaseDisk is os.baseDisk's image; nil without os.baseDisk. Base is
	// then unused: the OS is the vendor's disk.
	BaseDisk *VendorDisk
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
	// Validation is the disk's validation (strata inspect with the checks
	// the image carries): a directory holding its JUnit report. Every
	// provider output waits for the validation of its own disk.
	Validation llb.State
	// OSDisk is a Kubernetes node's disk before its Kubernetes layer is
	// added (see nodeDisk); nil for other images.
	OSDisk *llb.State
	// Providers holds each provider's output directory, by provider name:
	// its image and manifest.json.
	Providers map[string]llb.State

	disk nodeDiskParts
}

// DiskFile is the disk's name in the disk target's output directory.
const DiskFile = "disk.raw"

// Build returns every graph of the node image. Each layer is its own graph
// and they meet only in the merge, so each is cached on its own.
func Build(in Input) (Graph, error) {
	img := in.Spec.Image
	g := Graph{Overlay: in.Distro.Graph(), Release: release(in)}
	osIn := oslayer.Input{Base: in.Base, OS: img.OS, Distro: in.Distro, Epoch: *in.contentEpoch(),
		KubernetesNode: img.Kubernetes != nil, Bootstrap: bootstrap(img), Locate: in.Locate}
	st := stack{names: []string{"os"}, stable: 1}
	switch {
	case img.OS.BaseDisk != nil && in.BaseDisk == nil:
		return Graph{}, fmt.Errorf("os.baseDisk: no disk image was fetched for it")
	case img.OS.BaseDisk != nil:
		g.OS = oslayer.Files(osIn)
		st.names[0] = "os files"
	default:
		var err error
		if g.OS, err = oslayer.Build(osIn); err != nil {
			return Graph{}, fmt.Errorf("os layer: %w", err)
		}
	}
	st.states = []llb.State{g.OS}
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
		ext := kubernetes.Extension(k, in.Distro.Sysext)
		image := sysext.Image(sysext.Input{Extension: ext, Payload: layer.Payload(), Tools: in.Tools, Binary: ToolsBinary,
			Seed: in.Spec.Digest(), Epoch: in.contentEpoch(), Located: located(in, "kubernetes.install")})
		g.KubernetesSysext = &image
		if k.Install == "sysext" {
			st.add("kubernetes configuration", layer.Config)
			st.add("kubernetes sysext", sysext.Install(ext, image, k.SysextImage().Updates))
		} else {
			// The runtime changes less often than Kubernetes: it goes
			// into the OS disk (see nodeDisk).
			st.add("container runtime", layer.Runtime)
			st.stable++
			st.add("kubernetes", layer.Kubernetes)
			st.add("kubernetes configuration", layer.Config)
		}
	}
	// The overlay goes last among the layers so its small diff wins.
	st.add(in.Distro.Defaults.Name+" overlay", g.Overlay)
	st.add("release info", g.Release)
	checked, err := checksGraph(in)
	if err != nil {
		return Graph{}, err
	}
	st.add("checks", checked)
	g.Rootfs = st.merge("[rootfs] merge ", 0, len(st.states))
	g.disk = nodeDisk(in, st, g.Rootfs, img.Disk.Cmdline, "disk")
	g.Disk, g.OSDisk = g.disk.full, g.disk.os
	g.Validation = validate(in, g.Disk, "disk")
	g.Providers = make(map[string]llb.State, len(providers.All))
	for _, p := range providers.All {
		g.Providers[p.Name] = providerOutput(in, g, st, p)
	}
	return g, nil
}

// stack is the layers of a node's root filesystem, bottom first: the OS,
// then the layers above it. The first stable ones change least often; a
// Kubernetes node's disk is assembled from them (see nodeDisk).
type stack struct {
	states []llb.State
	names  []string
	stable int
}

func (s *stack) add(name string, st llb.State) {
	s.states = append(s.states, st)
	s.names = append(s.names, name)
}

// merge merges layers [from, to), or returns the one layer in that range.
func (s stack) merge(prefix string, from, to int) llb.State {
	if to-from == 1 {
		return s.states[from]
	}
	return llb.Merge(s.states[from:to], llb.WithCustomName(prefix+strings.Join(s.names[from:to], ", ")))
}

// onOS returns a copy of the stack with another OS layer at its bottom.
func (s stack) onOS(name string, os llb.State) stack {
	s.states = append([]llb.State{os}, s.states[1:]...)
	s.names = append([]string{name}, s.names[1:]...)
	return s
}

// with returns a copy of the stack with one more layer on top.
func (s stack) with(name string, st llb.State) stack {
	s.states = append(slices.Clone(s.states), st)
	s.names = append(slices.Clone(s.names), name)
	return s
}

// nodeDiskParts is a node's disk: in full, and for a Kubernetes node also
// as the parts it is made of.
type nodeDiskParts struct {
	full llb.State
	// os is the OS disk the layer is added to; nil when the disk is
	// assembled whole.
	os    *llb.State
	upper llb.State // the layer: the merged upper layers of the stack
	names []string  // what the layer holds
	step  string
}

// nodeDisk is the disk of rootfs, the merge of the whole stack. A
// Kubernetes node's disk is assembled from the stable layers alone (the OS
// and the container runtime) and gets the others added on top (strata
// add-layer): a Kubernetes version bump then reuses the cached OS disk,
// whose blocks stay in place for the conversion to reuse too, and writes
// only the upper layers' files. Other images have nothing worth layering
// and are assembled whole.
func nodeDisk(in Input, st stack, rootfs llb.State, cmdline, step string) nodeDiskParts {
	if in.BaseDisk != nil {
		return vendorNodeDisk(in, st, step)
	}
	if in.Spec.Image.Kubernetes == nil {
		return nodeDiskParts{full: assemble(in, rootfs, cmdline, in.Spec.Digest(), step)}
	}
	base := assemble(in, st.merge("["+step+" os] merge ", 0, st.stable), cmdline, in.Spec.OSDigest(), step+" os")
	d := nodeDiskParts{os: &base, upper: st.merge("["+step+"] merge ", st.stable, len(st.states)),
		names: st.names[st.stable:], step: step}
	d.full = addLayer(in, base, d.upper, d.names, step, false)
	return d
}

// delta is the layer alone as strata add-layer --delta writes it, which a
// conversion reads over the OS disk: the layered disk is never written in
// full. It needs an OS disk.
func (d nodeDiskParts) delta(in Input) llb.State {
	return addLayer(in, *d.os, d.upper, d.names, d.step, true)
}

// contentEpoch is the time every step clamps timestamps to: the user's
// SOURCE_DATE_EPOCH, or the spec's default, so that a build without it is
// reproducible too.
func (in Input) contentEpoch() *time.Time {
	if in.Epoch != nil {
		return in.Epoch
	}
	t := spec.DefaultEpoch
	return &t
}

// epochEnv gives a step SOURCE_DATE_EPOCH, which the tools it runs
// (strata, mkinitramfs, dpkg's maintainer scripts, useradd) honour.
func (in Input) epochEnv() llb.RunOption {
	return llb.AddEnv("SOURCE_DATE_EPOCH", strconv.FormatInt(in.contentEpoch().Unix(), 10))
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
// but its inputs, or its cache entry would lie. The disk's identifiers
// derive from seed.
func assemble(in Input, rootfs llb.State, cmdline, seed, step string) llb.State {
	img := in.Spec.Image
	args := []string{ToolsBinary, "assemble",
		"--rootfs", "/rootfs",
		"-o", "/out/" + DiskFile,
		"--size", strconv.FormatInt(int64(img.Disk.Size), 10),
		"--seed", seed,
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
	opts = append(opts, in.epochEnv())
	for _, loc := range located(in, "disk") {
		opts = append(opts, loc)
	}
	run := in.Tools.Run(opts...)
	return run.AddMount("/out", llb.Scratch())
}

// addLayer runs `strata add-layer`: a copy of the base disk with layer's
// files added to its root filesystem, or with delta only what changes. Like
// the assembly it is offline and keys its cache on its inputs' graphs, not
// on their bytes.
func addLayer(in Input, base, layer llb.State, names []string, step string, delta bool) llb.State {
	args := []string{ToolsBinary, "add-layer", "/base/" + DiskFile, "--tree", "/layer", "-o", "/out/" + DiskFile}
	what := DiskFile
	if delta {
		args = []string{ToolsBinary, "add-layer", "/base/" + DiskFile, "--tree", "/layer", "--delta", "-o", "/out"}
		what = DiskFile + ", changes only"
	}
	opts := []llb.RunOption{
		llb.Args(args),
		llb.Network(pb.NetMode_NONE),
		llb.AddMount("/base", base, llb.Readonly, llb.ContentCache(llb.MountContentCacheOff)),
		llb.AddMount("/layer", layer, llb.Readonly, llb.ContentCache(llb.MountContentCacheOff)),
		llb.WithCustomName(fmt.Sprintf("[%s] add %s to %s", step, strings.Join(names, ", "), what)),
	}
	opts = append(opts, in.epochEnv())
	for _, loc := range located(in, "disk") {
		opts = append(opts, loc)
	}
	return in.Tools.Run(opts...).AddMount("/out", llb.Scratch())
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

// bootstrap is the spec's kubernetes.bootstrap, which only a Kubernetes
// node has.
func bootstrap(img spec.NodeImage) string {
	if img.Kubernetes == nil {
		return ""
	}
	return img.Kubernetes.Bootstrap
}
