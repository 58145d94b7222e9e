package providers

// azure imports a fixed VHD uploaded as a page blob or straight into a
// managed disk, then `az image create` or a compute gallery version.
var azure = Provider{
	Name:        "azure",
	Description: "Microsoft Azure: fixed VHD for a page blob or managed-disk upload, Hyper-V generation 2",
	Formats:     []string{"vhd"},
	BootMode:    "uefi",
	// A direct upload must be at least 20 MiB; the VHD format stops at
	// 2040 GiB, below what Azure's managed disks take. The 1 MiB alignment
	// Azure demands is the VHD writer's rounding.
	Sizes: SizeRule{Min: 20 * mib, Max: 2040 * gib, Why: "an Azure upload is at least 20 MiB, and a VHD holds at most 2040 GiB"},
	Guest: Guest{
		Datasources:   []string{"Azure", "None"},
		Cmdline:       []string{"console=ttyS0,115200n8", "earlyprintk=ttyS0", "rootdelay=300"},
		InitrdModules: []string{"hv_vmbus", "hv_storvsc", "hv_netvsc"},
	},
	// `az image create` / `az sig image-version create` arguments.
	Import: map[string]any{
		"hyper_v_generation": "V2",
		"os_type":            "Linux",
	},
	Docs: "docs/providers/azure.md",
}
