// Package rhel registers the RHEL-family overlays: Rocky Linux 9
// ("rocky-9") and AlmaLinux 9 ("almalinux-9"). Both rebuild RHEL 9 with
// its package names, so they share every fact but the name. Package
// lists follow kubernetes-sigs/image-builder (images/capi/ansible/roles
// node/defaults common_rpms and rh8_rpms, providers/tasks/qemu.yml) where
// it names them; the rest are RHEL 9's names, not checked against its
// archive from here (see docs/distros.md).
package rhel

import (
	"github.com/strata-dev/strata/checks"
	"github.com/strata-dev/strata/layers/overlays"
	"github.com/strata-dev/strata/spec"
)

func init() {
	for _, name := range []string{"rocky-9", "almalinux-9"} {
		overlays.Register(distro(name))
		// RHEL's kernel-core puts the kernel's config beside its
		// modules, where kubeadm's SystemVerification finds it.
		overlays.RegisterChecks(name, checks.File{Path: "/lib/modules/*/config", Type: "file"})
	}
}

func distro(name string) overlays.Distro {
	return overlays.Distro{
		Defaults: spec.Distro{
			Name:   name,
			Kernel: "kernel",
			// RHEL ships no systemd-boot; its UEFI path is shim and
			// GRUB. The disk targets refuse grub until the assembler
			// supports it (spec.CheckDisk); os and rootfs build.
			Bootloader: "grub",
			Cmdline:    "console=ttyS0",
		},
		Family: "dnf",
		// dracut-config-generic turns off dracut's host-only mode, which
		// would otherwise make an initrd for the build container's
		// hardware. NetworkManager is RHEL 9's network service (it has no
		// systemd-networkd). selinux-policy-targeted is the policy the
		// root filesystem is labelled with on first boot (/.autorelabel).
		BootPackages: []string{"systemd", "systemd-udev", "dracut", "dracut-config-generic", "e2fsprogs",
			"iproute", "NetworkManager", "shim-x64", "grub2-efi-x64", "selinux-policy-targeted"},
		Services: []string{"NetworkManager"},
		// image-builder's common_rpms and rh8_rpms (conntrack-tools,
		// socat, chrony, audit, ca-certificates, nftables), plus what
		// kubeadm's preflight and runc look for: iptables (the nft
		// backend is RHEL 9's only one), ethtool, tc (iproute-tc) and
		// libseccomp. container-selinux holds the SELinux types
		// containerd runs containers as under the enforcing policy.
		// RHEL 9 has no ebtables package; kubeadm only warns without it.
		KubernetesPackages: []string{"conntrack-tools", "iptables-nft", "nftables", "ethtool", "iproute-tc", "socat",
			"libseccomp", "container-selinux", "ca-certificates", "chrony", "audit"},
		// image-builder's qemu.yml installs cloud-utils-growpart beside
		// cloud-init on RHEL; sudo is for cloud-init's default user.
		Bootstraps: map[string]overlays.Bootstrap{
			"cloud-init": {
				Packages: []string{"cloud-init", "cloud-utils-growpart", "sudo"},
				Files:    []spec.File{overlays.CloudInitLocale},
			},
		},
		// kubeadm's RPM drop-in reads it from here, not /etc/default.
		KubeletEnvFile: "/etc/sysconfig/kubelet",
		// dracut takes drivers as add_drivers lines in its conf.d; the
		// generic (non-host-only) initrd holds most of them already.
		Initrd: overlays.Initrd{ModulesFile: "/etc/dracut.conf.d/90-strata-drivers.conf",
			Line: `add_drivers+=" %s "`, Rebuild: "dracut --regenerate-all --force"},
		Files: []spec.File{
			// A profile for any Ethernet device, below every other
			// profile's priority, so cloud-init's configuration wins and
			// an image without it still gets DHCP. NetworkManager reads a
			// keyfile only when root owns it with mode 0600.
			{Path: "/etc/NetworkManager/system-connections/strata-dhcp.nmconnection", Mode: "0600",
				Content: "[connection]\nid=strata-dhcp\ntype=ethernet\nautoconnect-priority=-100\n\n[ipv4]\nmethod=auto\n\n[ipv6]\nmethod=auto\n"},
			// Build steps run without SELinux (and without the right to
			// set security.selinux), so the root filesystem's files carry
			// no labels; the assembler keeps whatever xattrs the tree has.
			// This flag makes the first boot label the whole root with the
			// installed policy and reboot once.
			{Path: "/.autorelabel", Mode: "0644", Content: ""},
			{Path: "/etc/hostname", Mode: "0644", Content: "localhost\n"},
			// No /etc/hosts and no SSH host-key drop-in: RHEL's setup
			// package ships /etc/hosts, and sshd-keygen@.service makes the
			// host keys sysprep removed on first boot.
		},
		Links: []overlays.Link{
			// firewalld's rules fight the ones kube-proxy and the CNI
			// plugins write; masked, it stays off even if os.packages
			// installs it.
			{Path: "/etc/systemd/system/firewalld.service", Target: "/dev/null"},
			// NetworkManager always writes the booted node's resolver
			// configuration here; a link to it is left alone, so the build
			// host's file never reaches the node.
			{Path: "/etc/resolv.conf", Target: "../run/NetworkManager/resolv.conf"},
		},
	}
}
