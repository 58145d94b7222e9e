package spec

import "time"

// DefaultDistro is the distro used when os.distro is not set. It is
// exported so that callers that look up overlays themselves agree with
// Load.
const DefaultDistro = "debian"

// Built-in defaults that do not depend on the distro.
const (
	defaultDiskSize   = 8 * GiB
	defaultBoot       = "uefi"
	defaultBootloader = "systemd-boot"
	defaultFilesystem = "ext4"
	defaultRootLabel  = "root"
	defaultFileMode   = "0644"
	defaultInstall    = "rootfs"
	// defaultBootstrap is what Cluster API's kubeadm bootstrap provider
	// sends its user-data to.
	defaultBootstrap = "cloud-init"
	// defaultSysextFormat: squashfs is the one every distro kernel mounts.
	defaultSysextFormat = "squashfs"
)

// ApplyDefaults fills fields the user left empty, first from the distro
// overlay and then from the built-in defaults. It never overwrites a value
// the file or a build arg set, so it is safe to call after ApplyOverrides.
func (s *Spec) ApplyDefaults(d Distro) {
	img := &s.Image
	fill(&img.OS.Distro, d.Name, DefaultDistro)
	fill(&img.OS.Kernel, d.Kernel)
	for i := range img.OS.Files {
		fill(&img.OS.Files[i].Mode, defaultFileMode)
	}
	if img.Disk.Size == 0 {
		img.Disk.Size = defaultDiskSize
	}
	fill(&img.Disk.Boot, defaultBoot)
	fill(&img.Disk.Bootloader, d.Bootloader, defaultBootloader)
	fill(&img.Disk.Root.Filesystem, defaultFilesystem)
	fill(&img.Disk.Root.Label, defaultRootLabel)
	fill(&img.Disk.Cmdline, d.Cmdline)
	if img.Kubernetes != nil {
		fill(&img.Kubernetes.Install, d.Install, defaultInstall)
		fill(&img.Kubernetes.Bootstrap, d.Bootstrap, defaultBootstrap)
		fill(&img.Kubernetes.SandboxImage, SandboxImageFor(img.Kubernetes.Version))
	}
}

// fill sets *field to the first non-empty candidate when it is empty.
func fill(field *string, candidates ...string) {
	for _, c := range candidates {
		if *field != "" {
			return
		}
		*field = c
	}
}

// SysextImage is the sysext section with its defaults, also for specs that
// have none: the kubernetes-sysext target builds an image either way.
func (k *Kubernetes) SysextImage() Sysext {
	var s Sysext
	if k.Sysext != nil {
		s = *k.Sysext
	}
	fill(&s.Format, defaultSysextFormat)
	return s
}

// DefaultEpoch is the time a build clamps every timestamp to when
// SOURCE_DATE_EPOCH is not set: a fixed date, so a
// build without it is reproducible too. A build's own files (logs, the
// initrd, users' password dates) would otherwise carry the day they were
// made. Changing it changes every image's bytes, as changing a default
// field value would.
var DefaultEpoch = time.Date(2024, time.January, 1, 0, 0, 0, 0, time.UTC)
