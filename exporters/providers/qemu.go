package providers

// qemu is a local QEMU/KVM or libvirt guest, configured through a NoCloud
// seed (a cidata ISO or SMBIOS serial).
var qemu = Provider{
	Name:        "qemu",
	Description: "QEMU/KVM and libvirt: compressed qcow2, cloud-init NoCloud",
	Formats:     []string{"qcow2-compressed", "qcow2"},
	BootMode:    "uefi",
	Guest: Guest{
		Datasources:   []string{"NoCloud", "None"},
		Cmdline:       []string{"console=ttyS0,115200n8"},
		InitrdModules: []string{"virtio_blk", "virtio_scsi", "virtio_pci"},
	},
	Import: map[string]any{"firmware": "OVMF", "machine": "q35"},
	Docs:   "docs/providers/qemu.md",
}
