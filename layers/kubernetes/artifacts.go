// Package kubernetes compiles the spec's kubernetes section into the
// Kubernetes graph: containerd, runc, crictl, the CNI plugins, kubelet,
// kubeadm and kubectl, each downloaded with its checksum enforced, plus their
// units and node configuration. The graph starts from scratch and never
// reads the OS graph, so a version bump rebuilds only this layer.
//
// The package is pure. Checksum files must be fetched before the graph can
// be built; the frontend does that (see Artifact.ChecksumURL) and hands the
// digests back through Input.Digests. In air-gapped builds the frontend
// verifies a local release tree instead (Artifact.Path) and hands it over as
// Input.Tree, and nothing is downloaded.
package kubernetes

import (
	"fmt"
	"path"
	"strings"

	"github.com/strata-dev/strata/spec"
)

// Upstream hosts, used when kubernetes.source is not set. With a source, the
// same paths are fetched below it: a mirror is the upstream layout with the
// hosts dropped.
const (
	upstreamKubernetes = "https://dl.k8s.io"
	upstreamGitHub     = "https://github.com"
)

// Arch is the only architecture built so far, in Go/Kubernetes spelling.
const Arch = "amd64"

// Artifact is one file the layer downloads.
type Artifact struct {
	// Name is the artifact's spec name: kubelet, containerd, cni, ...
	Name string
	// Version is the pinned version it comes from, as written in the spec.
	Version string
	// URL is where the file is fetched from.
	URL string
	// ChecksumURL is the published checksum file, empty when the spec pins
	// the digest (kubernetes.artifacts.NAME.sha256).
	ChecksumURL string
	// Pinned is the spec's sha256 pin, if any.
	Pinned string
	// File is the published file name, the key in sha256sum-style files.
	File string
	// Path is the artifact's place in a release tree: the upstream URL's
	// path with the host dropped (release/v1.31.2/bin/linux/amd64/kubelet).
	// A mirror serves it there below kubernetes.source, and the
	// kubernetes-artifacts build context holds it there. A url override
	// does not move it: the tree stands in for every host at once.
	Path string
	// ChecksumPath is the checksum file's place in a release tree, empty
	// when the spec pins the digest.
	ChecksumPath string
	// Field is the spec field that pins this artifact's version (or, for an
	// image, its list entry), for errors.
	Field string
	// PinField is the spec field that pins its digest, whether set or not.
	PinField string
	// Secret names the BuildKit secret whose value is the Authorization
	// header for URL and ChecksumURL: kubernetes.sourceSecret when they lie
	// below kubernetes.source, else empty.
	Secret string

	install install
}

// install says where an artifact goes in the image.
type install struct {
	unpackTo string // an archive, extracted into this directory
	binary   string // a single executable, placed at this path
	image    string // an image tarball, placed at this path as data
}

// Label names the artifact in progress and errors: "kubelet v1.31.2",
// "image kube-proxy v1.31.2", or "image pause" for a tarball that comes
// with no version.
func (a Artifact) Label() string {
	if a.Version == "" {
		return a.Name
	}
	return a.Name + " " + a.Version
}

// catalogEntry describes how upstream publishes one artifact.
type catalogEntry struct {
	name     string
	field    string // spec field holding the version
	version  func(*spec.Kubernetes) string
	upstream string
	path     func(version string) string
	// checksum gives the checksum file's URL or path from the artifact's.
	checksum func(artifact string) string
	install  install
}

func withSuffix(s string) func(string) string { return func(u string) string { return u + s } }

func sibling(name string) func(string) string {
	return func(u string) string { return u[:strings.LastIndex(u, "/")+1] + name }
}

// kubernetesVersionField pins the binaries of Kubernetes itself.
const kubernetesVersionField = "kubernetes.version"

func kubeBinary(bin string) catalogEntry {
	return catalogEntry{
		name: bin, field: kubernetesVersionField, upstream: upstreamKubernetes,
		version: func(k *spec.Kubernetes) string { return k.Version },
		path: func(v string) string {
			return fmt.Sprintf("release/%s/bin/linux/%s/%s", v, Arch, bin)
		},
		checksum: withSuffix(".sha256"),
		// Where the upstream deb and rpm packages put them, which is what
		// kubeadm's drop-in and every guide expect.
		install: install{binary: "/usr/bin/" + bin},
	}
}

// catalog lists the artifacts in install order; upstream layouts are data.
var catalog = []catalogEntry{
	{
		name: "containerd", field: "kubernetes.containerd", upstream: upstreamGitHub,
		version: func(k *spec.Kubernetes) string { return k.Containerd },
		path: func(v string) string {
			return fmt.Sprintf("containerd/containerd/releases/download/v%s/containerd-%s-linux-%s.tar.gz", v, v, Arch)
		},
		checksum: withSuffix(".sha256sum"),
		install:  install{unpackTo: "/usr/local"},
	},
	{
		name: "runc", field: "kubernetes.runc", upstream: upstreamGitHub,
		version: func(k *spec.Kubernetes) string { return k.Runc },
		path: func(v string) string {
			return fmt.Sprintf("opencontainers/runc/releases/download/v%s/runc.%s", v, Arch)
		},
		// runc publishes one checksum file for all its release files.
		checksum: sibling("runc.sha256sum"),
		install:  install{binary: "/usr/local/sbin/runc"},
	},
	{
		name: "crictl", field: "kubernetes.crictl", upstream: upstreamGitHub,
		version: func(k *spec.Kubernetes) string { return k.Crictl },
		path: func(v string) string {
			return fmt.Sprintf("kubernetes-sigs/cri-tools/releases/download/v%s/crictl-v%s-linux-%s.tar.gz", v, v, Arch)
		},
		checksum: withSuffix(".sha256"),
		install:  install{unpackTo: "/usr/local/bin"},
	},
	{
		name: "cni", field: "kubernetes.cni", upstream: upstreamGitHub,
		version: func(k *spec.Kubernetes) string { return k.CNI },
		path: func(v string) string {
			return fmt.Sprintf("containernetworking/plugins/releases/download/v%s/cni-plugins-linux-%s-v%s.tgz", v, Arch, v)
		},
		checksum: withSuffix(".sha256"),
		install:  install{unpackTo: "/opt/cni/bin"},
	},
	kubeBinary("kubelet"),
	kubeBinary("kubeadm"),
	kubeBinary("kubectl"),
}

// Artifacts lists what the layer installs for k, with URLs resolved against
// kubernetes.source and the per-artifact overrides, and each artifact's
// path in a release tree: the catalog's binaries and archives, then the
// image tarballs of kubernetes.images (see images.go).
func Artifacts(k *spec.Kubernetes) []Artifact {
	out := make([]Artifact, 0, len(catalog)+len(k.Images))
	for _, e := range catalog {
		version := e.version(k)
		base := e.upstream
		if k.Source != "" {
			base = strings.TrimSuffix(k.Source, "/")
		}
		p := e.path(version)
		a := Artifact{
			Name:         e.name,
			Version:      version,
			URL:          base + "/" + p,
			Path:         p,
			ChecksumPath: e.checksum(p),
			Field:        e.field,
			PinField:     "kubernetes.artifacts." + e.name + ".sha256",
			install:      e.install,
		}
		o := k.Artifacts.ByName(e.name)
		if o != nil && o.URL != "" {
			a.URL = o.URL
		}
		a.File = path.Base(a.URL)
		a.ChecksumURL = e.checksum(a.URL)
		a.Secret = sourceSecret(k, a.URL)
		if o != nil && o.SHA256 != "" {
			a.Pinned = o.SHA256
			a.ChecksumURL, a.ChecksumPath = "", ""
		}
		out = append(out, a)
	}
	return append(out, imageArtifacts(k)...)
}

// sourceSecret is the secret that authorises a download from u:
// kubernetes.sourceSecret for a URL below kubernetes.source, and none for
// any other, so that the mirror's credentials never reach another host
// (an artifacts url override elsewhere, say).
func sourceSecret(k *spec.Kubernetes, u string) string {
	if k.SourceSecret == "" || k.Source == "" {
		return ""
	}
	if strings.HasPrefix(u, strings.TrimSuffix(k.Source, "/")+"/") {
		return k.SourceSecret
	}
	return ""
}
