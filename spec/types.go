// Package spec loads the node-image YAML file that users write.
//
// Loading is strict on purpose: a typo in a build spec should stop the
// build with a file:line:column pointing at it, not silently produce an
// image without the package the user asked for. Every problem is reported
// as an *Error carrying the field path and position, so the frontend can
// map it to BuildKit's source view in one place.
package spec

import (
	"reflect"
	"strings"
)

// APIVersion is the only apiVersion this package understands; a later
// incompatible schema gets a new value so old files keep their meaning.
const APIVersion = "strata.dev/v1alpha1"

// Kind is the only document kind a node-image file may declare; the field
// exists so other kinds can share the file format later.
const Kind = "NodeImage"

// NodeImage is the whole user-facing spec. Its fields mirror the YAML
// keys one to one so error paths match what the user typed.
type NodeImage struct {
	APIVersion string      `yaml:"apiVersion" json:"apiVersion,omitempty"`
	Kind       string      `yaml:"kind" json:"kind,omitempty"`
	Name       string      `yaml:"name" json:"name,omitempty"`
	OS         OS          `yaml:"os" json:"os"`
	Kubernetes *Kubernetes `yaml:"kubernetes" json:"kubernetes,omitempty"`
	Disk       Disk        `yaml:"disk" json:"disk"`
	Outputs    []string    `yaml:"outputs" json:"outputs,omitempty"`
	Providers  Providers   `yaml:"providers" json:"providers,omitzero"`
	// Validate holds the user's own checks of the built image, run with
	// the layers' default checks (see CheckList).
	Validate CheckList `yaml:"validate" json:"validate,omitzero"`
}

// Providers tunes the provider outputs, one optional entry per provider;
// the YAML keys are the provider names.
type Providers struct {
	Raw       *ProviderOptions `yaml:"raw" json:"raw,omitempty"`
	Qemu      *ProviderOptions `yaml:"qemu" json:"qemu,omitempty"`
	AWS       *ProviderOptions `yaml:"aws" json:"aws,omitempty"`
	Azure     *ProviderOptions `yaml:"azure" json:"azure,omitempty"`
	GCP       *ProviderOptions `yaml:"gcp" json:"gcp,omitempty"`
	VSphere   *ProviderOptions `yaml:"vsphere" json:"vsphere,omitempty"`
	OpenStack *ProviderOptions `yaml:"openstack" json:"openstack,omitempty"`
}

// For returns the options for provider name, or nil when the spec sets
// none.
func (p Providers) For(name string) *ProviderOptions {
	v := reflect.ValueOf(p)
	t := v.Type()
	for i := range t.NumField() {
		if key, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); key == name {
			return v.Field(i).Interface().(*ProviderOptions)
		}
	}
	return nil
}

// ProviderOptions are the choices a provider's output leaves open.
type ProviderOptions struct {
	Format string `yaml:"format" json:"format,omitempty"`
	// CPUs, Memory and Network describe the virtual machine of an OVA.
	CPUs    string   `yaml:"cpus" json:"cpus,omitempty"`
	Memory  ByteSize `yaml:"memory" json:"memory,omitempty"`
	Network string   `yaml:"network" json:"network,omitempty"`
}

// OS describes the operating-system layer. Base is optional because the
// build can take the base image from the named context "os-base" instead.
type OS struct {
	Base string `yaml:"base" json:"base,omitempty"`
	// BaseDisk makes the base a vendor's published disk image instead
	// of an OCI rootfs: the OS is not rebuilt, and the layers above it
	// are added to the disk's root filesystem in place.
	BaseDisk *BaseDisk `yaml:"baseDisk" json:"baseDisk,omitempty"`
	Distro   string    `yaml:"distro" json:"distro,omitempty"`
	Kernel   string    `yaml:"kernel" json:"kernel,omitempty"`
	Packages []string  `yaml:"packages" json:"packages,omitempty"`
	// PackageSecret names the BuildKit secret holding the package
	// manager's credentials for a private mirror (apt_auth.conf(5) lines
	// for apt). Only its ID is in the spec: the value is mounted into the
	// install steps alone and never reaches a layer.
	PackageSecret string            `yaml:"packageSecret" json:"packageSecret,omitempty"`
	Files         []File            `yaml:"files" json:"files,omitempty"`
	Sysctl        map[string]string `yaml:"sysctl" json:"sysctl,omitempty"`
	Modules       []string          `yaml:"modules" json:"modules,omitempty"`
	Services      Services          `yaml:"services" json:"services"`
	Run           []string          `yaml:"run" json:"run,omitempty"`
}

// BaseDisk is a disk image a vendor published (raw, qcow2, VMDK or VHD),
// by URL or by a path in the build context; the named context os-disk
// replaces both. SHA256 (or SHA512) is the image file's checksum as published: a URL
// without one is refused, since the build would trust whatever it got.
type BaseDisk struct {
	URL    string `yaml:"url" json:"url,omitempty"`
	Path   string `yaml:"path" json:"path,omitempty"`
	SHA256 string `yaml:"sha256" json:"sha256,omitempty"`
	// SHA512 replaces SHA256 for vendors that publish SHA-512 sums only
	// (Debian's SHA512SUMS, Flatcar's DIGESTS).
	SHA512 string `yaml:"sha512" json:"sha512,omitempty"`
	// Format is the image file's format; empty means detected from its
	// header.
	Format string `yaml:"format" json:"format,omitempty"`
}

// File is a file written into the image. Mode stays a string so that the
// octal form the user wrote ("0644") survives YAML's number parsing.
type File struct {
	Path    string `yaml:"path" json:"path,omitempty"`
	Content string `yaml:"content" json:"content,omitempty"`
	Mode    string `yaml:"mode" json:"mode,omitempty"`
}

// Services lists systemd units to enable or disable. A name without a
// unit-type suffix means a .service unit; names are kept as written.
type Services struct {
	Enable  []string `yaml:"enable" json:"enable,omitempty"`
	Disable []string `yaml:"disable" json:"disable,omitempty"`
}

// Kubernetes pins the Kubernetes layer. It is validated even before the
// layer is built so that malformed input fails early and clearly.
type Kubernetes struct {
	Version    string `yaml:"version" json:"version,omitempty"`
	Containerd string `yaml:"containerd" json:"containerd,omitempty"`
	Runc       string `yaml:"runc" json:"runc,omitempty"`
	Crictl     string `yaml:"crictl" json:"crictl,omitempty"`
	CNI        string `yaml:"cni" json:"cni,omitempty"`
	Source     string `yaml:"source" json:"source,omitempty"`
	// SourceSecret names the BuildKit secret whose value is the
	// Authorization header sent with every download below Source.
	SourceSecret string `yaml:"sourceSecret" json:"sourceSecret,omitempty"`
	Install      string `yaml:"install" json:"install,omitempty"`
	// Bootstrap is what turns the booted image into a cluster member:
	// cloud-init, which runs the user-data of Cluster API's kubeadm
	// bootstrap provider, or none for images joined by other means.
	Bootstrap string `yaml:"bootstrap" json:"bootstrap,omitempty"`
	// SandboxImage is the pause image containerd's CRI plugin pins.
	SandboxImage string `yaml:"sandboxImage" json:"sandboxImage,omitempty"`
	// Artifacts overrides where single artifacts come from, for mirrors that
	// do not follow the upstream layout, and pins their checksums.
	Artifacts *Artifacts `yaml:"artifacts" json:"artifacts,omitzero"`
	// Images are container image tarballs placed in the image and imported
	// into containerd at boot (see images.go).
	Images []Image `yaml:"images" json:"images,omitempty"`
	// Sysext shapes the systemd-sysext image: the one install: sysext puts
	// on the disk, and the kubernetes-sysext target's.
	Sysext *Sysext `yaml:"sysext" json:"sysext,omitzero"`
}

// Sysext configures the Kubernetes system extension image.
type Sysext struct {
	// Format is the image's filesystem: squashfs or erofs.
	Format string `yaml:"format" json:"format,omitempty"`
	// Updates is a systemd-sysupdate source: a URL serving newer patch
	// releases of the image beside a SHA256SUMS file. Empty writes no
	// transfer file.
	Updates string `yaml:"updates" json:"updates,omitempty"`
}

// IsZero makes an empty sysext section hash like none at all.
func (s *Sysext) IsZero() bool { return s == nil || *s == (Sysext{}) }

// Artifacts holds per-artifact overrides, one field per downloaded file.
type Artifacts struct {
	Kubelet    Artifact `yaml:"kubelet" json:"kubelet,omitzero"`
	Kubeadm    Artifact `yaml:"kubeadm" json:"kubeadm,omitzero"`
	Kubectl    Artifact `yaml:"kubectl" json:"kubectl,omitzero"`
	Containerd Artifact `yaml:"containerd" json:"containerd,omitzero"`
	Runc       Artifact `yaml:"runc" json:"runc,omitzero"`
	Crictl     Artifact `yaml:"crictl" json:"crictl,omitzero"`
	CNI        Artifact `yaml:"cni" json:"cni,omitzero"`
}

// IsZero reports whether a overrides nothing. encoding/json's omitzero
// uses it so that "artifacts: {}" and empty entries hash like no artifacts
// section at all: the digest must not depend on how "nothing" is spelt.
func (a *Artifacts) IsZero() bool {
	return a == nil || *a == (Artifacts{})
}

// Artifact overrides one download. A SHA256 pin wins over the checksum file
// published beside the artifact, which is then not fetched at all.
type Artifact struct {
	URL    string `yaml:"url" json:"url,omitempty"`
	SHA256 string `yaml:"sha256" json:"sha256,omitempty"`
}

// Disk describes the disk layout the assembler produces.
type Disk struct {
	Size       ByteSize `yaml:"size" json:"size,omitempty"`
	Boot       string   `yaml:"boot" json:"boot,omitempty"`
	Bootloader string   `yaml:"bootloader" json:"bootloader,omitempty"`
	Root       RootFS   `yaml:"root" json:"root"`
	Cmdline    string   `yaml:"cmdline" json:"cmdline,omitempty"`
}

// RootFS describes the root filesystem; the label is what the kernel
// command line uses to find it.
type RootFS struct {
	Filesystem string `yaml:"filesystem" json:"filesystem,omitempty"`
	Label      string `yaml:"label" json:"label,omitempty"`
}

// Distro holds the per-distro defaults. The distro overlays supply these
// values so that this package does not depend on any overlay.
type Distro struct {
	Name       string
	Kernel     string
	Bootloader string
	Cmdline    string
	// Install and Bootstrap are the distro's kubernetes.install and
	// kubernetes.bootstrap; empty leaves the built-in defaults.
	Install, Bootstrap string
	// Bootstraps are the kubernetes.bootstrap values the distro has
	// besides none; nil does not check.
	Bootstraps []string
	// VendorDiskOnly: the distro is installed from its vendor's disk
	// image alone (Flatcar ships no OCI rootfs to build from), so
	// os.baseDisk is required.
	VendorDiskOnly bool
	// ReadOnlyUsr: /usr is a read-only partition of its own, which a layer
	// cannot write to: Kubernetes goes in as a system extension.
	ReadOnlyUsr bool
}

// namedArtifact is one per-artifact override with its spec name.
type namedArtifact struct {
	name string
	art  *Artifact
}

// named lists the overrides by spec name, in declaration order.
func (a *Artifacts) named() []namedArtifact {
	return []namedArtifact{
		{"kubelet", &a.Kubelet}, {"kubeadm", &a.Kubeadm}, {"kubectl", &a.Kubectl},
		{"containerd", &a.Containerd}, {"runc", &a.Runc}, {"crictl", &a.Crictl}, {"cni", &a.CNI},
	}
}

// ByName returns the override for the artifact called name (kubelet,
// containerd, cni, ...), or nil when a is nil or name is not an artifact.
func (a *Artifacts) ByName(name string) *Artifact {
	if a == nil {
		return nil
	}
	for _, n := range a.named() {
		if n.name == name {
			return n.art
		}
	}
	return nil
}
