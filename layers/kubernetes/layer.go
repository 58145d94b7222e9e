package kubernetes

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/moby/buildkit/client/llb"
	digest "github.com/opencontainers/go-digest"
	"github.com/strata-dev/strata/llb/files"
	"github.com/strata-dev/strata/spec"
)

// Input is everything the Kubernetes graph is made from.
type Input struct {
	Kubernetes *spec.Kubernetes // after defaults and overrides
	// Digests maps artifact names to their verified sha256: the spec's pin,
	// or the published checksum file the frontend fetched.
	Digests map[string]digest.Digest
	// Tree, when set, replaces the downloads: every artifact is copied from
	// it instead of fetched over HTTP. Nil downloads them.
	Tree *Tree
	// KubeletEnvFile is the distro's home for KUBELET_EXTRA_ARGS
	// (/etc/default/kubelet on Debian).
	KubeletEnvFile string
	// Locate tags steps with their YAML location; nil tags nothing.
	Locate func(field string) llb.ConstraintsOpt
}

// Tree is a release tree the frontend has already verified: every artifact
// at its Path, hashed against Digests before the graph was built. It is how
// air-gapped builds get their artifacts (the kubernetes-artifacts build
// context).
type Tree struct {
	// Name says where the tree comes from, for vertex names
	// ("context kubernetes-artifacts").
	Name string
	// State holds the tree. It must be the very state whose bytes were
	// verified, so that what was checked is what gets installed.
	State llb.State
}

// Units the layer enables, and the target that wants them.
var enabledUnits = []string{"containerd.service", "kubelet.service"}

// Layer is the Kubernetes layer in the parts a system extension
// distinguishes, its payload in two. Each starts from scratch, so each is
// cached on its own.
type Layer struct {
	// Runtime is the part of the payload a kubernetes.version bump leaves
	// alone: containerd, runc, crictl, the CNI plugins and containerd's
	// unit. A node's disk is assembled with it and the OS, and gets the
	// rest added on top (see layers/node).
	Runtime llb.State
	// Kubernetes is the rest of the payload: kubelet, kubeadm, kubectl,
	// the image tarballs, their import and the kubelet's units.
	Kubernetes llb.State
	// Config is everything under /etc and /var, which a sysext cannot
	// carry: containerd's and the kubelet's configuration, node settings
	// and the units' enablement.
	Config llb.State
}

// Payload is everything under /usr and /opt: the downloads and the units.
// It is what a sysext image carries.
func (l Layer) Payload() llb.State {
	return llb.Merge([]llb.State{l.Runtime, l.Kubernetes}, llb.WithCustomName("[kubernetes] merge container runtime and kubernetes"))
}

// Tree is the whole layer as one tree: the kubernetes target.
func (l Layer) Tree() llb.State {
	return llb.Merge([]llb.State{l.Runtime, l.Kubernetes, l.Config}, llb.WithCustomName("[kubernetes] merge payload and configuration"))
}

// Build returns the Kubernetes layer: downloads verified by BuildKit against
// their digests merged with the units, and the configuration beside.
func Build(in Input) (Layer, error) {
	k := in.Kubernetes
	arts := Artifacts(k)
	var missing []string
	for _, a := range arts {
		if in.Digests[a.Name] == "" {
			missing = append(missing, a.Name)
		}
	}
	if len(missing) > 0 {
		return Layer{}, fmt.Errorf("no verified digest for %s", strings.Join(missing, ", "))
	}

	var runtime, kube, images []Artifact
	for _, a := range arts {
		switch {
		case a.isImage():
			images = append(images, a)
		case a.Field == kubernetesVersionField:
			kube = append(kube, a)
		default:
			runtime = append(runtime, a)
		}
	}
	cfg, err := configFiles(in.Kubernetes, in.KubeletEnvFile)
	if err != nil {
		return Layer{}, err
	}
	usr, etc := splitByHierarchy(cfg)
	runtimeUnits, releaseUnits := splitRuntimeFiles(usr)
	return Layer{
		Runtime:    addUnits(in, installAll(in, runtime, "container runtime"), runtimeUnits, "containerd"),
		Kubernetes: addUnits(in, placeImages(in, images, installAll(in, kube, "kubernetes")), releaseUnits, "kubelet"),
		Config:     configure(in, etc),
	}, nil
}

// installAll places the artifacts, downloaded or from the verified tree.
func installAll(in Input, arts []Artifact, what string) llb.State {
	if in.Tree != nil {
		return installFromTree(in, arts)
	}
	return installArtifacts(in, arts, what)
}

// splitRuntimeFiles tells the container runtime's files from the release's:
// the kubelet's and the image import's, whose script names the release's
// images. Those belong with the release, or a version bump would change the
// runtime part.
func splitRuntimeFiles(files []spec.File) (runtime, release []spec.File) {
	for _, f := range files {
		if strings.Contains(f.Path, "/kubelet") || f.Path == importScript || f.Path == "/usr/lib/systemd/system/"+ImportUnit {
			release = append(release, f)
		} else {
			runtime = append(runtime, f)
		}
	}
	return runtime, release
}

// splitByHierarchy separates what belongs to the payload (/usr, /opt) from
// what must stay in the root filesystem.
func splitByHierarchy(files []spec.File) (payload, rest []spec.File) {
	for _, f := range files {
		if IsPayloadPath(f.Path) {
			payload = append(payload, f)
		} else {
			rest = append(rest, f)
		}
	}
	return payload, rest
}

// IsPayloadPath reports whether p lies in a hierarchy systemd-sysext merges.
func IsPayloadPath(p string) bool {
	for _, h := range []string{"/usr", "/opt"} {
		if p == h || strings.HasPrefix(p, h+"/") {
			return true
		}
	}
	return false
}

// installArtifacts places each download in a FileOp of its own on scratch
// and merges them. Each llb.HTTP carries its digest, so BuildKit refuses
// bytes that do not match and caches the download by content; each install
// is cached by its download in turn, so a version bump fetches and installs
// only what changed: a kubernetes.version bump copies three binaries and
// unpacks none of the tarballs again. The merge costs no copying.
func installArtifacts(in Input, arts []Artifact, what string) llb.State {
	installs := make([]llb.State, 0, len(arts))
	names := make([]string, 0, len(arts))
	for _, a := range arts {
		src := fetch(in, a, 0o755)
		dest, info := placement(a)
		installs = append(installs, llb.Scratch().File(llb.Copy(src, a.File, dest, info), append(located(in, a.Field),
			llb.WithCustomName(fmt.Sprintf("[kubernetes 1/3] install %s %s", a.Name, a.Version)))...))
		names = append(names, a.Name)
	}
	return llb.Merge(installs, append(located(in, "kubernetes"),
		llb.WithCustomName(fmt.Sprintf("[kubernetes 1/3] merge %s: %s", what, strings.Join(names, " "))))...)
}

// fetch downloads artifact a as a file of the given mode. The digest rides
// on the llb.HTTP, so BuildKit refuses bytes that do not match it and
// caches the download by content.
func fetch(in Input, a Artifact, mode os.FileMode) llb.State {
	dgst := in.Digests[a.Name]
	opts := []llb.HTTPOption{llb.Checksum(dgst), llb.Filename(a.File), llb.Chmod(mode),
		llb.WithCustomName(fmt.Sprintf("[kubernetes] fetch %s from %s (%s)", a.Label(), a.URL, short(dgst)))}
	if a.Secret != "" {
		opts = append(opts, llb.AuthHeaderSecret(a.Secret))
	}
	for _, o := range located(in, a.Field) {
		opts = append(opts, o)
	}
	return llb.HTTP(a.URL, opts...)
}

// installFromTree copies every artifact out of the verified tree, one FileOp
// each, so that each shows in the progress with its path in the tree, as
// downloads do with their URLs. The chain costs no extra copying: each step
// adds one file on top of the last.
func installFromTree(in Input, arts []Artifact) llb.State {
	st := llb.Scratch()
	for _, a := range arts {
		dest, info := placement(a)
		// The frontend hashed the file through its symlinks; copy the same
		// bytes, not a link.
		info.FollowSymlinks = true
		if !info.AttemptUnpack {
			// A binary saved by curl or a browser is not executable; HTTP
			// downloads get the same mode from llb.Chmod.
			info.Mode = &llb.ChmodOpt{Mode: 0o755}
		}
		name := fmt.Sprintf("[kubernetes 1/3] install %s from %s:%s (%s)", a.Label(), in.Tree.Name, a.Path, short(in.Digests[a.Name]))
		st = st.File(llb.Copy(in.Tree.State, a.Path, dest, info), append(located(in, a.Field), llb.WithCustomName(name))...)
	}
	return st
}

// placement is where an artifact goes: a binary to its path, an archive
// unpacked into its directory.
func placement(a Artifact) (string, *llb.CopyInfo) {
	info := &llb.CopyInfo{CreateDestPath: true, ChownOpt: rootOwned()}
	if a.install.unpackTo != "" {
		info.AttemptUnpack = true
		return a.install.unpackTo + "/", info
	}
	return a.install.binary, info
}

// rootOwned: release tarballs may carry their builder's uid; the node's
// binaries must belong to root.
func rootOwned() *llb.ChownOpt {
	return &llb.ChownOpt{User: &llb.UserOpt{UID: 0}, Group: &llb.UserOpt{UID: 0}}
}

// addUnits merges the units with the binaries they start. The units are
// written apart from the binaries, not on top of them, so that a version
// bump that leaves them alone (without images, the kubelet's never change)
// finds them cached and goes straight from the downloads to the disk.
func addUnits(in Input, install llb.State, units []spec.File, what string) llb.State {
	var b files.Batch
	for _, f := range sortedByPath(units) {
		b.File(f)
	}
	written := b.Apply(files.PayloadRoot(), append(located(in, "kubernetes"),
		llb.WithCustomName("[kubernetes 2/3] add units for "+what))...)
	return llb.Merge([]llb.State{install, written}, append(located(in, "kubernetes"),
		llb.WithCustomName("[kubernetes 2/3] merge "+what+" and its units"))...)
}

// configure writes the configuration and enables the units with the
// symlinks `systemctl enable` would make, since this graph has no shell.
func configure(in Input, cfg []spec.File) llb.State {
	var b files.Batch
	for _, dir := range []string{"/etc/containerd/conf.d", "/etc/containerd/certs.d", "/etc/kubernetes/manifests", "/var/lib/kubelet"} {
		b.Mkdir(dir)
	}
	for _, f := range sortedByPath(cfg) {
		b.File(f)
	}
	enable := units(in.Kubernetes)
	for _, unit := range enable {
		b.Symlink("/usr/lib/systemd/system/"+unit, "/etc/systemd/system/multi-user.target.wants/"+unit)
	}
	// kubelet refuses to run with swap on; masking the target keeps any
	// swap unit from activating.
	b.Symlink("/dev/null", "/etc/systemd/system/swap.target")
	return b.Apply(files.Root(), append(located(in, "kubernetes"),
		llb.WithCustomName("[kubernetes 3/3] configure containerd and kubelet, enable "+strings.Join(enable, " ")))...)
}

func sortedByPath(fs []spec.File) []spec.File {
	out := slices.Clone(fs)
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// located returns the constraint that tags a step with field's YAML
// location, or none.
func located(in Input, field string) []llb.ConstraintsOpt {
	if in.Locate != nil {
		if loc := in.Locate(field); loc != nil {
			return []llb.ConstraintsOpt{loc}
		}
	}
	return nil
}

func short(d digest.Digest) string {
	if len(d.Encoded()) < 12 {
		return d.String()
	}
	return d.Algorithm().String() + ":" + d.Encoded()[:12]
}
