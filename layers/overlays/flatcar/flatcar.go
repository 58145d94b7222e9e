// Package flatcar registers the Flatcar Container Linux overlay. Flatcar
// ships no OCI rootfs and no package manager: a node is its published disk
// image (os.baseDisk) with the Kubernetes layer added the way Flatcar's
// own tooling adds extensions to a disk (sysext-bakery's
// bake_flatcar_image.sh): the system extension on the ROOT partition under
// /opt/extensions, a symlink in /etc/extensions, the configuration in /etc.
// Flatcar's /usr is its own read-only, verity-protected partition (USR-A,
// USR-B), which nothing may write.
//
// Flatcar's image cannot be downloaded on the machines strata is tested
// on: the overlay follows Flatcar's documented layout and is checked by
// golden graphs and a disk laid out like Flatcar's (docs/distros.md).
package flatcar

import (
	"github.com/strata-dev/strata/layers/overlays"
	"github.com/strata-dev/strata/layers/sysext"
	"github.com/strata-dev/strata/spec"
)

func init() {
	overlays.Register(Distro())
}

// Distro is the flatcar overlay.
func Distro() overlays.Distro {
	return overlays.Distro{
		Defaults: spec.Distro{
			Name: "flatcar",
			// The disk's own GRUB boots it; the disk fields do not apply
			// to a vendor's disk.
			Bootloader: "grub",
			Install:    "sysext",
			// Flatcar's first boot runs Ignition (Cluster API's
			// bootstrap format "ignition"), which its image carries.
			Bootstrap:      "ignition",
			VendorDiskOnly: true,
			ReadOnlyUsr:    true,
		},
		Bootstraps:     map[string]overlays.Bootstrap{"ignition": {}},
		KubeletEnvFile: "/etc/default/kubelet",
		Sysext: sysext.Layout{
			Store:  "/opt/extensions/kubernetes",
			Merged: "/etc/extensions",
			// ensure-sysext.service reloads the units of merged
			// extensions.
			DistroReloads: true,
		},
		Links: []overlays.Link{
			// Flatcar's own containerd and Docker are built-in
			// extensions; a symlink to /dev/null in /etc/extensions is
			// how Flatcar turns one off, so the node runs the
			// containerd the Kubernetes layer pins.
			{Path: "/etc/extensions/containerd-flatcar.raw", Target: "/dev/null"},
			{Path: "/etc/extensions/docker-flatcar.raw", Target: "/dev/null"},
		},
	}
}
