package providers

// openstack imports through Glance. Plain qcow2 by default: Glance's image
// conversion and Ceph-backed clouds handle it without recompressing.
var openstack = Provider{
	Name:        "openstack",
	Description: "OpenStack Glance: qcow2 with UEFI image properties",
	Formats:     []string{"qcow2", "qcow2-compressed", "raw"},
	BootMode:    "uefi",
	Guest: Guest{
		Datasources:   []string{"OpenStack", "ConfigDrive", "None"},
		Cmdline:       []string{"console=ttyS0,115200n8"},
		InitrdModules: []string{"virtio_blk", "virtio_scsi", "virtio_pci"},
	},
	// Glance image properties that make Nova boot the image with UEFI on
	// a q35 machine.
	Import: map[string]any{
		"container_format": "bare",
		"hw_firmware_type": "uefi",
		"hw_machine_type":  "q35",
		"os_type":          "linux",
	},
	Docs: "docs/providers/openstack.md",
}
