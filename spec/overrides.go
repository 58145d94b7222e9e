package spec

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Arg documents one build arg that overrides a spec field, so that a bake
// matrix can vary it without editing the file.
type Arg struct {
	Name        string // build-arg name, e.g. DISK_SIZE
	Field       string // field path it sets, e.g. disk.size
	Description string
}

// override pairs a documented arg with how it sets its field.
type override struct {
	Arg
	set func(img *NodeImage, value string) error
}

// overrides is the single table behind Overridable and ApplyOverrides, so
// the documentation cannot drift from the behaviour.
var overrides = []override{
	{Arg{"NAME", "name", "image name"}, setString(func(i *NodeImage) *string { return &i.Name })},
	{Arg{"OS_BASE", "os.base", "base image reference (otherwise the os-base build context)"}, setString(func(i *NodeImage) *string { return &i.OS.Base })},
	{Arg{"OS_DISTRO", "os.distro", "distro overlay to use"}, setString(func(i *NodeImage) *string { return &i.OS.Distro })},
	{Arg{"OS_KERNEL", "os.kernel", "kernel package"}, setString(func(i *NodeImage) *string { return &i.OS.Kernel })},
	{Arg{"OS_PACKAGES", "os.packages", "comma-separated packages; replaces the list"}, setPackages},
	{Arg{"OS_PACKAGE_SECRET", "os.packageSecret", "ID of the secret with the package mirror's credentials"}, setString(func(i *NodeImage) *string { return &i.OS.PackageSecret })},
	{Arg{"DISK_SIZE", "disk.size", "disk size, e.g. 8GiB"}, setDiskSize},
	{Arg{"DISK_BOOT", "disk.boot", "boot mode: uefi"}, setString(func(i *NodeImage) *string { return &i.Disk.Boot })},
	{Arg{"DISK_BOOTLOADER", "disk.bootloader", "bootloader: systemd-boot"}, setString(func(i *NodeImage) *string { return &i.Disk.Bootloader })},
	{Arg{"DISK_CMDLINE", "disk.cmdline", "kernel command line"}, setString(func(i *NodeImage) *string { return &i.Disk.Cmdline })},
	{Arg{"DISK_ROOT_LABEL", "disk.root.label", "root filesystem label"}, setString(func(i *NodeImage) *string { return &i.Disk.Root.Label })},
	{Arg{"KUBERNETES_VERSION", "kubernetes.version", "Kubernetes version, e.g. v1.31.2"}, setKubernetes(func(k *Kubernetes) *string { return &k.Version })},
	{Arg{"KUBERNETES_CONTAINERD", "kubernetes.containerd", "containerd version, e.g. 1.7.22"}, setKubernetes(func(k *Kubernetes) *string { return &k.Containerd })},
	{Arg{"KUBERNETES_RUNC", "kubernetes.runc", "runc version, e.g. 1.1.14"}, setKubernetes(func(k *Kubernetes) *string { return &k.Runc })},
	{Arg{"KUBERNETES_CRICTL", "kubernetes.crictl", "crictl version, e.g. 1.31.1"}, setKubernetes(func(k *Kubernetes) *string { return &k.Crictl })},
	{Arg{"KUBERNETES_CNI", "kubernetes.cni", "CNI plugins version, e.g. 1.5.1"}, setKubernetes(func(k *Kubernetes) *string { return &k.CNI })},
	{Arg{"KUBERNETES_SOURCE", "kubernetes.source", "download mirror URL"}, setKubernetes(func(k *Kubernetes) *string { return &k.Source })},
	{Arg{"KUBERNETES_SOURCE_SECRET", "kubernetes.sourceSecret", "ID of the secret with the mirror's Authorization header"}, setKubernetes(func(k *Kubernetes) *string { return &k.SourceSecret })},
	{Arg{"KUBERNETES_INSTALL", "kubernetes.install", "rootfs or sysext"}, setKubernetes(func(k *Kubernetes) *string { return &k.Install })},
	{Arg{"KUBERNETES_BOOTSTRAP", "kubernetes.bootstrap", "cloud-init or none"}, setKubernetes(func(k *Kubernetes) *string { return &k.Bootstrap })},
	{Arg{"KUBERNETES_SANDBOX_IMAGE", "kubernetes.sandboxImage", "pause image for containerd"}, setKubernetes(func(k *Kubernetes) *string { return &k.SandboxImage })},
	{Arg{"KUBERNETES_IMAGES", "kubernetes.images", "comma-separated release images to pre-pull; replaces the list"}, setImages},
	{Arg{"KUBERNETES_SYSEXT_FORMAT", "kubernetes.sysext.format", "sysext filesystem: squashfs or erofs"}, setKubernetes(func(k *Kubernetes) *string {
		if k.Sysext == nil {
			k.Sysext = &Sysext{}
		}
		return &k.Sysext.Format
	})},
}

// Overridable lists the build args a spec accepts, in documentation
// order.
func Overridable() []Arg {
	args := make([]Arg, len(overrides))
	for i, o := range overrides {
		args[i] = o.Arg
	}
	return args
}

// ignoredArgs are BuildKit's predefined args: BuildKit and docker pass
// them to every frontend, so they must not be mistaken for typos.
var ignoredArgs = map[string]bool{
	"SOURCE_DATE_EPOCH": true,
	"HTTP_PROXY":        true, "http_proxy": true,
	"HTTPS_PROXY": true, "https_proxy": true,
	"NO_PROXY": true, "no_proxy": true,
	"FTP_PROXY": true, "ftp_proxy": true,
	"ALL_PROXY": true, "all_proxy": true,
}

func isIgnoredArg(name string) bool {
	return ignoredArgs[name] || strings.HasPrefix(name, "BUILDKIT_")
}

// ApplyOverrides sets fields from build args. An unknown arg is an error
// rather than ignored because a misspelt arg in a bake matrix would
// otherwise build the wrong image silently. Values are checked for type
// here and for meaning by Validate, which names the arg in its errors.
// These errors are not *Error: build args have no place in the file.
func (s *Spec) ApplyOverrides(args map[string]string) error {
	names := make([]string, 0, len(args))
	for name := range args {
		names = append(names, name)
	}
	sort.Strings(names)
	var errs []error
	for _, name := range names {
		if isIgnoredArg(name) {
			continue
		}
		o, ok := findOverride(name)
		if !ok {
			errs = append(errs, fmt.Errorf("build arg %q is not declared by %s; overridable args: %s", name, s.fileName(), overridableNames()))
			continue
		}
		if err := o.set(&s.Image, args[name]); err != nil {
			errs = append(errs, fmt.Errorf("build arg %s: %w", name, err))
			continue
		}
		s.markOverridden(o.Field, name)
	}
	return errors.Join(errs...)
}

func findOverride(name string) (override, bool) {
	for _, o := range overrides {
		if o.Name == name {
			return o, true
		}
	}
	return override{}, false
}

// overridableNames lists the arg names sorted, which is easiest to scan
// in an error message.
func overridableNames() string {
	names := make([]string, len(overrides))
	for i, o := range overrides {
		names[i] = o.Name
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func (s *Spec) fileName() string {
	if s.File == "" {
		return "the spec"
	}
	return s.File
}

// markOverridden remembers which arg set a field and forgets positions of
// list elements the arg replaced, which no longer describe the value.
func (s *Spec) markOverridden(field, arg string) {
	if s.overridden == nil {
		s.overridden = map[string]string{}
	}
	s.overridden[field] = arg
	for p := range s.pos {
		if strings.HasPrefix(p, field+"[") || strings.HasPrefix(p, field+".") {
			delete(s.pos, p)
		}
	}
}

// overriddenBy returns the build arg that set field or one of its
// ancestors.
func (s *Spec) overriddenBy(field string) (string, bool) {
	for f := field; ; f = parentPath(f) {
		if arg, ok := s.overridden[f]; ok {
			return arg, true
		}
		if f == "" {
			return "", false
		}
	}
}

func setString(get func(*NodeImage) *string) func(*NodeImage, string) error {
	return func(img *NodeImage, value string) error {
		*get(img) = value
		return nil
	}
}

// setKubernetes creates the kubernetes section when needed, so a bake
// matrix can add Kubernetes to a plain OS spec.
func setKubernetes(get func(*Kubernetes) *string) func(*NodeImage, string) error {
	return func(img *NodeImage, value string) error {
		if img.Kubernetes == nil {
			img.Kubernetes = &Kubernetes{}
		}
		*get(img.Kubernetes) = value
		return nil
	}
}

// setPackages splits on commas; empty items are dropped so that a
// trailing comma or an empty arg (clearing the list) both work.
func setPackages(img *NodeImage, value string) error {
	var pkgs []string
	for _, p := range strings.Split(value, ",") {
		if p = strings.TrimSpace(p); p != "" {
			pkgs = append(pkgs, p)
		}
	}
	img.OS.Packages = pkgs
	return nil
}

func setDiskSize(img *NodeImage, value string) error {
	size, err := ParseByteSize(value)
	if err != nil {
		return err
	}
	img.Disk.Size = size
	return nil
}

// setImages takes release image names, split like OS_PACKAGES; an image
// given by URL needs the file. An empty value clears the list.
func setImages(img *NodeImage, value string) error {
	var images []Image
	for _, name := range strings.Split(value, ",") {
		if name = strings.TrimSpace(name); name != "" {
			images = append(images, Image{Name: name})
		}
	}
	if img.Kubernetes == nil {
		img.Kubernetes = &Kubernetes{}
	}
	img.Kubernetes.Images = images
	return nil
}
