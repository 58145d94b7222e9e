package providers

// vsphere imports an OVA with govc or ovftool, or the bare VMDK into a
// datastore.
var vsphere = Provider{
	Name:        "vsphere",
	Description: "VMware vSphere: OVA (OVF, stream-optimized VMDK, SHA-256 manifest) with EFI firmware",
	Formats:     []string{"ova", "vmdk"},
	BootMode:    "uefi",
	// 62 TiB is the largest virtual disk vSphere creates.
	Sizes: SizeRule{Max: 62 << 40, Why: "vSphere virtual disks end at 62 TiB"},
	Guest: Guest{
		Datasources:   []string{"VMware", "OVF", "None"},
		InitrdModules: []string{"vmw_pvscsi", "vmxnet3"},
	},
	// The OVF inside the OVA carries the rest of the virtual machine.
	Import: map[string]any{"firmware": "efi"},
	Docs:   "docs/providers/vsphere.md",
}
