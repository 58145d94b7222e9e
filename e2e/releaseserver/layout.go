package releaseserver

import "strings"

// Release names the component versions a release tree serves. Its JSON form
// is what e2e/cmd/mkartifacts prints, so a test can decode that line straight
// into a Release (plus the tree's "dir").
//
// Kubernetes carries its leading "v" ("v1.36.3"), as the spec's
// kubernetes.version does; the others do not ("1.6.20"), as the spec's
// containerd, runc, crictl and cni fields do not.
type Release struct {
	Kubernetes string `json:"kubernetes"`
	// PreviousKubernetes is a second, older Kubernetes release whose
	// kubelet, kubeadm and kubectl the tree serves too, so a test can bump
	// kubernetes.version from it to Kubernetes with nothing else changed.
	// Empty when the tree serves one release.
	PreviousKubernetes string `json:"previousKubernetes,omitempty"`
	Containerd         string `json:"containerd"`
	Runc               string `json:"runc"`
	Crictl             string `json:"crictl"`
	CNI                string `json:"cni"`
}

// Previous is the release at PreviousKubernetes: the same containerd,
// runc, crictl and CNI, so only the Kubernetes paths differ.
func (r Release) Previous() Release {
	p := r
	p.Kubernetes, p.PreviousKubernetes = r.PreviousKubernetes, ""
	return p
}

// The methods below give each artifact's URL path on the server, which is
// also its place in the tree: the upstream download URL with the host
// dropped. dl.k8s.io serves Kubernetes under /release/; the others are
// GitHub release assets, /OWNER/REPO/releases/download/TAG/NAME. Only
// linux/amd64 is laid out: the CI machines and the boot test are amd64.
const arch = "amd64"

// KubeBinary is the path of kubelet, kubeadm or kubectl.
func (r Release) KubeBinary(name string) string {
	return "/release/" + r.Kubernetes + "/bin/linux/" + arch + "/" + name
}

// ContainerdTarball is the path of containerd's release tarball.
func (r Release) ContainerdTarball() string {
	return githubAsset("containerd/containerd", r.Containerd,
		"containerd-"+r.Containerd+"-linux-"+arch+".tar.gz")
}

// RuncBinary is the path of the runc binary, which runc publishes bare, not
// in a tarball.
func (r Release) RuncBinary() string {
	return githubAsset("opencontainers/runc", r.Runc, "runc."+arch)
}

// RuncChecksums is the path of runc's one checksum file for all its assets.
func (r Release) RuncChecksums() string {
	return githubAsset("opencontainers/runc", r.Runc, "runc.sha256sum")
}

// CrictlTarball is the path of crictl's release tarball. Unlike the others,
// cri-tools keeps the "v" in the file name.
func (r Release) CrictlTarball() string {
	return githubAsset("kubernetes-sigs/cri-tools", r.Crictl,
		"crictl-v"+r.Crictl+"-linux-"+arch+".tar.gz")
}

// CNITarball is the path of the CNI plugins tarball.
func (r Release) CNITarball() string {
	return githubAsset("containernetworking/plugins", r.CNI,
		"cni-plugins-linux-"+arch+"-v"+r.CNI+".tgz")
}

// githubAsset is the path of a release asset with GitHub's host dropped.
// Tags are the version with a "v" in front for every project here.
func githubAsset(repo, version, name string) string {
	return "/" + repo + "/releases/download/v" + strings.TrimPrefix(version, "v") + "/" + name
}
