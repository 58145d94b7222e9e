package spec

import (
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Image is one container image tarball that the Kubernetes layer places in
// the node image, to be imported into containerd before kubelet starts. In
// YAML it is either a release image name, the short form
//
//	images: [kube-proxy]
//
// which is fetched beside the Kubernetes binaries with its .sha256, or a
// mapping for any other tarball (pause, CoreDNS, a CNI's images):
//
//	images: [{name: pause, url: https://..., sha256: <64 hex>}]
//
// A mapping may also name a release image, to move it (url) or pin it
// (sha256) as kubernetes.artifacts does for binaries.
type Image struct {
	// Name names the tarball in the node (/usr/lib/strata/images/NAME.tar)
	// and in progress and errors; for a release image it is also which one.
	Name string `yaml:"name" json:"name,omitempty"`
	// URL is where the tarball is fetched from; required unless Name is a
	// release image.
	URL string `yaml:"url" json:"url,omitempty"`
	// SHA256 pins the tarball. Without it the checksum file URL.sha256 is
	// fetched, as for every other download.
	SHA256 string `yaml:"sha256" json:"sha256,omitempty"`
}

// ReleaseImages are the image tarballs each Kubernetes release publishes
// beside its binaries (release/vX.Y.Z/bin/linux/ARCH/NAME.tar), each with a
// NAME.tar.sha256. They are the images kubeadm runs a control plane and
// kube-proxy from.
var ReleaseImages = []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"}

// IsReleaseImage reports whether name is one of ReleaseImages.
func IsReleaseImage(name string) bool {
	return slices.Contains(ReleaseImages, name)
}

// imageNamePattern keeps names usable as file names and readable in unit
// output; the first and last characters are letters or digits.
var imageNamePattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$`)

func (v *validator) images(list []Image) {
	first := map[string]int{}
	for i, img := range list {
		field := index("kubernetes.images", i)
		nameField := v.imageNameField(field)
		switch {
		case img.Name == "":
			v.fail(field+".name", "required; name a release image (%s), or name the tarball given by url", strings.Join(ReleaseImages, ", "))
		case len(img.Name) > maxNameLen || !imageNamePattern.MatchString(img.Name):
			v.fail(nameField, "invalid image name %q; use up to %d lowercase letters, digits, '.', '_' and '-', starting and ending with a letter or digit (it names /usr/lib/strata/images/NAME.tar)", img.Name, maxNameLen)
		case img.URL == "" && !IsReleaseImage(img.Name):
			msg := "unknown release image " + strconv.Quote(img.Name) + "; release images are " + strings.Join(ReleaseImages, ", ")
			if s := suggest(img.Name, ReleaseImages); s != "" {
				msg += " (did you mean " + strconv.Quote(s) + "?)"
			}
			v.fail(nameField, "%s; for any other image write {name: %s, url: <tarball URL>, sha256: <64 hex>}", msg, img.Name)
		default:
			if j, dup := first[img.Name]; dup {
				v.fail(nameField, "duplicate image %q, already listed as %s; list each image once", img.Name, index("kubernetes.images", j))
			} else {
				first[img.Name] = i
			}
		}
		if u := img.URL; u != "" {
			parsed, err := url.Parse(u)
			if err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" || parsed.Path == "" || strings.HasSuffix(parsed.Path, "/") {
				v.fail(field+".url", "invalid URL %q; use the http:// or https:// URL of the image tarball", u)
			}
		}
		if h := img.SHA256; h != "" && !sha256Hex.MatchString(h) {
			v.fail(field+".sha256", "invalid sha256 %q; use the 64 lowercase hex digits (as sha256sum prints them)", h)
		}
	}
}

// imageNameField is where a problem with an entry's name points: the name
// field of a mapping, or the entry itself when it was written as a bare
// name.
func (v *validator) imageNameField(entry string) string {
	if _, ok := v.spec.pos[entry+".name"]; ok {
		return entry + ".name"
	}
	return entry
}
