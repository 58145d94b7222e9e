// Package debian registers the Debian overlay. Distros derived from
// Debian (Ubuntu) start from its facts, through Distro.
package debian

import (
	"github.com/strata-dev/strata/checks"
	"github.com/strata-dev/strata/layers/overlays"
	"github.com/strata-dev/strata/spec"
)

func init() {
	overlays.Register(Distro())
	// A fact of Debian's layout the checks of every image look for (see
	// overlays.Distro.Checks).
	overlays.RegisterChecks("debian", KernelConfig)
}

// KernelConfig is where Debian's kernel packages put the kernel's config,
// which kubeadm's preflight (SystemVerification) reads.
var KernelConfig = checks.File{Path: "/boot/config-*", Type: "file"}

// Distro returns the Debian overlay's facts, a new value on each call so
// that a derived distro may change its slices.
func Distro() overlays.Distro {
	return overlays.Distro{
		Defaults: spec.Distro{
			Name:       "debian",
			Kernel:     "linux-image-cloud-amd64",
			Bootloader: "systemd-boot",
			Cmdline:    "console=ttyS0",
		},
		Family: "apt",
		// A container base has no init, no udev and no initramfs generator;
		// systemd-boot-efi carries only the EFI binary, which the assembler
		// copies to the ESP (the systemd-boot package would run bootctl).
		// systemd-resolved takes the DNS servers systemd-networkd learns
		// by DHCP; Debian splits it out of systemd since bookworm.
		BootPackages: []string{"systemd-sysv", "udev", "initramfs-tools", "systemd-boot-efi", "e2fsprogs", "iproute2", "systemd-resolved"},
		Services:     []string{"systemd-networkd", "systemd-resolved"},
		// kubeadm's preflight looks for these; runc needs libseccomp, and
		// containerd loads its AppArmor profile with apparmor_parser.
		// chrony and auditd are image-builder's: a cluster's certificates
		// and etcd need the clock in step, and an audit trail is part of
		// every hardening guide. Both enable themselves when installed.
		KubernetesPackages: []string{"conntrack", "iptables", "ebtables", "ethtool", "socat",
			"libseccomp2", "apparmor", "ca-certificates", "chrony", "auditd"},
		// growpart (cloud-guest-utils) lets cloud-init grow the root
		// partition to the VM's disk; cloud-init's default user is given
		// sudo, which a container base lacks; see CloudInitLocale.
		Bootstraps: map[string]overlays.Bootstrap{
			"cloud-init": {
				Packages: []string{"cloud-init", "cloud-guest-utils", "sudo"},
				Files:    []spec.File{overlays.CloudInitLocale},
			},
		},
		KubeletEnvFile: "/etc/default/kubelet",
		Initrd:         overlays.Initrd{ModulesFile: "/etc/initramfs-tools/modules", Rebuild: "update-initramfs -u -k all"},
		Files: []spec.File{
			{Path: "/etc/systemd/network/80-strata-dhcp.network", Mode: "0644",
				Content: "[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n"},
			// Sysprep deletes SSH host keys so clones differ; Debian does not
			// recreate them by itself, so sshd would fail on first boot.
			{Path: "/etc/systemd/system/ssh.service.d/10-strata-host-keys.conf", Mode: "0644",
				Content: "[Service]\nExecStartPre=/usr/bin/ssh-keygen -A\n"},
			{Path: "/etc/hostname", Mode: "0644", Content: "localhost\n"},
			// A container base has no /etc/hosts (the installer writes it on
			// a real system), and containerd copies it into every
			// host-network pod: kube-proxy and the control plane's static
			// pods cannot start without it.
			{Path: "/etc/hosts", Mode: "0644", Content: "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\nff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n"},
		},
		// The resolver configuration is the booted node's, never the build
		// host's: a base image may carry the host's file (mmdebstrap copies
		// it in), and build steps cannot replace it, since BuildKit mounts
		// its own over it. kubeadm sees the stub and points kubelet at
		// resolved's upstream list instead.
		Links: []overlays.Link{{Path: "/etc/resolv.conf", Target: "../run/systemd/resolve/stub-resolv.conf"}},
	}
}
