// Package ubuntu registers the Ubuntu overlays, one distro per LTS release
// ("ubuntu-24.04", "ubuntu-22.04"). Ubuntu is Debian's overlay plus what
// kubernetes-sigs/image-builder does differently for Ubuntu (its Ansible
// roles and Goss specs under images/capi/), and the releases differ only
// in how their systemd is split into packages.
package ubuntu

import (
	"slices"

	"github.com/strata-dev/strata/layers/overlays"
	"github.com/strata-dev/strata/layers/overlays/debian"
	"github.com/strata-dev/strata/spec"
)

// release is what one Ubuntu release changes of the shared facts.
type release struct {
	version string
	// systemdParts are the packages this release splits out of systemd
	// that a bootable image needs.
	systemdParts []string
}

var releases = []release{
	// Ubuntu split systemd-boot and systemd-resolved out of systemd in
	// 22.10 (the 22.10 systemd-boot(7) man page is provided by the
	// systemd-boot package, 22.04's and earlier by systemd; lxc-ci's
	// image recipes add systemd-resolved from 22.10 on). As on Debian,
	// systemd-boot-efi holds the EFI binary alone.
	{version: "24.04", systemdParts: []string{"systemd-boot-efi", "systemd-resolved"}},
	// 22.04's systemd carries the EFI binary and resolved itself.
	{version: "22.04"},
}

func init() {
	for _, r := range releases {
		d := distro(r)
		overlays.Register(d)
		// Ubuntu's kernel packages put the kernel's config where
		// Debian's do.
		overlays.RegisterChecks(d.Defaults.Name, debian.KernelConfig)
	}
}

// distro is Debian's overlay changed for Ubuntu release r.
func distro(r release) overlays.Distro {
	d := debian.Distro()
	d.Defaults.Name = "ubuntu-" + r.version
	// image-builder's Ubuntu images run the virtual kernel flavour: its
	// Goss specs expect linux-tools-virtual and linux-cloud-tools-virtual
	// for every VM provider. linux-image-virtual is that kernel without
	// the headers linux-virtual would add.
	d.Defaults.Kernel = "linux-image-virtual"
	// Debian's list, minus the EFI binary and resolved, which each
	// release names as its systemd packages them.
	d.BootPackages = append(slices.DeleteFunc(d.BootPackages, func(p string) bool {
		return p == "systemd-boot-efi" || p == "systemd-resolved"
	}), r.systemdParts...)
	// image-builder enables networkd-dispatcher on Ubuntu's VM images
	// (Goss: qemu, ova, openstack, maas) and hooks chrony to it, so that
	// NTP servers from DHCP reach chrony. It enables itself when
	// installed; the hooks are the user's (os.files under
	// /etc/networkd-dispatcher/).
	d.KubernetesPackages = append(d.KubernetesPackages, "networkd-dispatcher")
	// cloud-init renders network configuration for netplan on Ubuntu
	// (its renderers there are netplan, eni, sysconfig; a container base
	// has none), and netplan writes systemd-networkd's files from it, so
	// networkd stays the one network service. Without a seed's network
	// configuration the overlay's own networkd file does DHCP, as on
	// Debian; netplan's generated files sort before it and win.
	ci := d.Bootstraps["cloud-init"]
	ci.Packages = append(slices.Clone(ci.Packages), "netplan.io")
	d.Bootstraps["cloud-init"] = ci
	d.Files = append(d.Files, spec.File{
		// image-builder sets strict reverse-path filtering on Ubuntu alone
		// (roles/node: "Ensure reverse packet filtering is set as strict";
		// Goss: net.ipv4.conf.all.rp_filter = 1), where systemd's
		// 50-default.conf makes it loose. It sorts after that file and
		// before os.sysctl's 90-strata.conf, which can set it back.
		Path: "/etc/sysctl.d/70-strata-rp-filter.conf", Mode: "0644",
		Content: "# written by strata: strict reverse-path filtering, as image-builder sets on Ubuntu\nnet.ipv4.conf.all.rp_filter = 1\n",
	})
	// image-builder keeps apt's daily timers off on Ubuntu (Goss:
	// apt-daily.timer and apt-daily-upgrade.timer neither enabled nor
	// running): they take dpkg's lock on the first boot, when cloud-init
	// and kubeadm run, and upgrade a node behind the cluster's back. A
	// link to /dev/null masks them, which holds even if os.packages
	// reinstalls apt.
	for _, u := range []string{"apt-daily.timer", "apt-daily-upgrade.timer"} {
		d.Links = append(d.Links, overlays.Link{Path: "/etc/systemd/system/" + u, Target: "/dev/null"})
	}
	return d
}
