package kubernetes

import (
	"fmt"
	"net/url"
	"path"
	"strings"

	"github.com/moby/buildkit/client/llb"
	"github.com/strata-dev/strata/spec"
)

// Pre-pulled images (kubernetes.images) are image tarballs placed in the
// node and imported into containerd's k8s.io namespace at boot, by a oneshot
// unit ordered after containerd and before kubelet.
//
// They are imported at boot rather than at build time because containerd's
// store is its own business: a bolt database and snapshots tied to its
// version and snapshotter. Filling it at build time would mean running
// containerd, with mount privileges, inside the build, coupling this layer
// to the OS layer and baking a database full of timestamps into the image.
// A tarball is plain data: it is verified by its checksum like every other
// download, cached by content, and the same bytes give the same image.
const (
	// ImagesDir holds the tarballs, NAME.tar. It is under /usr because the
	// tarballs are static data that ship with the image and change only
	// with it, so they can move with /usr into a sysext or a read-only
	// /usr later.
	ImagesDir = "/usr/lib/strata/images"
	// importScript runs ctr for every tarball; the unit calls it.
	importScript = "/usr/lib/strata/import-images"
	// ImportUnit is the oneshot unit that imports the images.
	ImportUnit = "strata-import-images.service"
	// kubeadmRegistry is kubeadm's default imageRepository, the registry
	// release images are tagged for.
	kubeadmRegistry = "registry.k8s.io"
)

// imageArtifacts lists k.Images as artifacts. A release image is fetched
// beside the binaries, through kubernetes.source, as dl.k8s.io publishes it
// (release/vX.Y.Z/bin/linux/amd64/NAME.tar with NAME.tar.sha256); any other
// image from its url, with url.sha256 beside it unless pinned. In a release
// tree (the kubernetes-artifacts context) a release image keeps its
// upstream path, as the binaries do, and any other image sits at its URL's
// path with the host dropped, where `wget -x -nH` puts it.
func imageArtifacts(k *spec.Kubernetes) []Artifact {
	out := make([]Artifact, 0, len(k.Images))
	for i, img := range k.Images {
		field := fmt.Sprintf("kubernetes.images[%d]", i)
		a := Artifact{
			Name:     "image " + img.Name,
			Field:    field,
			PinField: field + ".sha256",
			install:  install{image: ImagesDir + "/" + img.Name + ".tar"},
		}
		if spec.IsReleaseImage(img.Name) {
			e := kubeBinary(img.Name + ".tar")
			a.Version = e.version(k)
			a.Path = e.path(a.Version)
			base := e.upstream
			if k.Source != "" {
				base = strings.TrimSuffix(k.Source, "/")
			}
			a.URL = base + "/" + a.Path
		}
		if img.URL != "" {
			a.URL = img.URL
			if a.Path == "" {
				// Validation accepts only URLs that parse with a path.
				u, _ := url.Parse(img.URL)
				a.Path = strings.TrimPrefix(u.Path, "/")
			}
		}
		a.File = path.Base(a.URL)
		a.ChecksumURL, a.ChecksumPath = a.URL+".sha256", a.Path+".sha256"
		a.Secret = sourceSecret(k, a.URL)
		if img.SHA256 != "" {
			a.Pinned = img.SHA256
			a.ChecksumURL, a.ChecksumPath = "", ""
		}
		out = append(out, a)
	}
	return out
}

// isImage tells image tarballs from the binaries and archives installed in
// the layer's first step.
func (a Artifact) isImage() bool { return a.install.image != "" }

// placeImages puts the image tarballs into ImagesDir on top of st, after
// the binaries, so that changing the list re-runs this step and the
// configuration but not the install. Tarballs are data: mode 0644, owned
// by root, never unpacked.
func placeImages(in Input, images []Artifact, st llb.State) llb.State {
	if len(images) == 0 {
		return st
	}
	if in.Tree != nil {
		for _, a := range images {
			info := imageCopyInfo()
			info.FollowSymlinks = true // the bytes the frontend hashed
			name := fmt.Sprintf("[kubernetes images] place %s from %s:%s (%s)", a.Label(), in.Tree.Name, a.Path, short(in.Digests[a.Name]))
			st = st.File(llb.Copy(in.Tree.State, a.Path, a.install.image, info), append(located(in, a.Field), llb.WithCustomName(name))...)
		}
		return st
	}
	var action *llb.FileAction
	names := make([]string, 0, len(images))
	for _, a := range images {
		src := fetch(in, a, 0o644)
		if action == nil {
			action = llb.Copy(src, a.File, a.install.image, imageCopyInfo())
		} else {
			action = action.Copy(src, a.File, a.install.image, imageCopyInfo())
		}
		names = append(names, strings.TrimPrefix(a.Name, "image "))
	}
	return st.File(action, append(located(in, "kubernetes.images"),
		llb.WithCustomName("[kubernetes images] place "+strings.Join(names, " ")+" in "+ImagesDir))...)
}

func imageCopyInfo() *llb.CopyInfo {
	return &llb.CopyInfo{CreateDestPath: true, ChownOpt: rootOwned(), Mode: &llb.ChmodOpt{Mode: 0o644}}
}

// imageFiles are the import script, its unit, and kubelet's drop-in that
// makes kubelet wait for the import; none without images.
func imageFiles(k *spec.Kubernetes) []spec.File {
	if len(k.Images) == 0 {
		return nil
	}
	return []spec.File{
		{Path: importScript, Mode: "0755", Content: importScriptContent(k)},
		{Path: "/usr/lib/systemd/system/" + ImportUnit, Mode: "0644", Content: importUnitContent},
		{Path: "/usr/lib/systemd/system/kubelet.service.d/20-strata-images.conf", Mode: "0644", Content: kubeletImagesDropIn},
	}
}

// units are the units the layer enables: containerd and kubelet, and the
// import unit when there are images.
func units(k *spec.Kubernetes) []string {
	if len(k.Images) == 0 {
		return enabledUnits
	}
	return append(append([]string(nil), enabledUnits...), ImportUnit)
}

// ReleaseImageRefs are the names a release image tarball carries and the
// name kubeadm looks for. Upstream's build tags each image for its
// architecture (registry.k8s.io/kube-proxy-amd64:v1.31.2); kubeadm runs
// registry.k8s.io/kube-proxy:v1.31.2 and would pull it, so the import adds
// that tag, as image-builder does by rewriting the tarball's manifest.
// Here the verified tarball stays untouched and ctr adds the tag.
func ReleaseImageRefs(name, version string) (archTag, kubeadmTag string) {
	return kubeadmRegistry + "/" + name + "-" + Arch + ":" + version, kubeadmRegistry + "/" + name + ":" + version
}

// importScriptContent imports every tarball with the ctr of the containerd
// release, in spec order, and tags release images for kubeadm. Importing
// content containerd already holds adds nothing, so the script is safe to
// run at every boot, and doing so restores images the kubelet's garbage
// collection removed. Any failure stops it with a message on the console.
func importScriptContent(k *spec.Kubernetes) string {
	var b strings.Builder
	b.WriteString(`#!/bin/sh
# Written by strata: imports the image tarballs in ` + ImagesDir + `
# into containerd's k8s.io namespace, where kubelet finds them through CRI.
set -eu
dir=` + ImagesDir + `
ctr() { /usr/local/bin/ctr --address /run/containerd/containerd.sock --namespace k8s.io "$@"; }
has() { ctr images ls -q | grep -qxF "$1"; }
say() { echo "strata-import-images: $*"; }

load() { # FILE
	say "importing $dir/$1"
	ctr images import "$dir/$1" || { say "importing $dir/$1 failed" >&2; exit 1; }
}

# A release image is tagged for its architecture; kubeadm wants the plain
# name. A tarball that already carries the plain name needs no tag.
release() { # FILE ARCH_TAG KUBEADM_TAG
	load "$1"
	if has "$2"; then ctr images tag --force "$2" "$3" >/dev/null; fi
	has "$3" || { say "$dir/$1 holds neither $2 nor $3; kubeadm would pull $3" >&2; exit 1; }
	say "$3 ready"
}

`)
	for _, img := range k.Images {
		file := img.Name + ".tar"
		if spec.IsReleaseImage(img.Name) {
			arch, plain := ReleaseImageRefs(img.Name, k.Version)
			fmt.Fprintf(&b, "release %s %s %s\n", file, arch, plain)
		} else {
			fmt.Fprintf(&b, "load %s\n", file)
		}
	}
	b.WriteString("say \"done: $(ctr images ls -q | grep -v '^sha256:' | tr '\\n' ' ')\"\n")
	return b.String()
}

// importUnitContent runs the import once containerd is up. A oneshot with
// RemainAfterExit, so kubelet's Requires= sees it active after it ran; it
// only Wants containerd, so a containerd restart does not cascade through
// it into kubelet. Its output goes to the console too, so a failure is
// seen at boot, not only in the journal.
const importUnitContent = `[Unit]
Description=Import pre-pulled container images into containerd
Documentation=https://github.com/strata-dev/strata/blob/main/docs/kubernetes.md
Wants=containerd.service
After=containerd.service
Before=kubelet.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=` + importScript + `
StandardOutput=journal+console
StandardError=journal+console
# Generous: a big image on a slow disk takes minutes, but a hung containerd
# must not hold kubelet back for ever.
TimeoutStartSec=15min

[Install]
WantedBy=multi-user.target
`

// kubeletImagesDropIn keeps kubelet from starting without the images: a
// failed import leaves kubelet down, in plain sight, instead of letting it
// pull other bytes from a registry (or fail to, air-gapped) later.
const kubeletImagesDropIn = `[Unit]
Requires=` + ImportUnit + `
After=` + ImportUnit + `
`
