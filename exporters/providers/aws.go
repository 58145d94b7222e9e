package providers

// aws imports with `ec2 import-snapshot` and registers the snapshot with
// `ec2 register-image`. The stream-optimized VMDK is the smallest upload
// import-snapshot takes; raw is the alternative.
var aws = Provider{
	Name:        "aws",
	Description: "Amazon EC2: stream-optimized VMDK for import-snapshot, register-image parameters",
	Formats:     []string{"vmdk", "raw"},
	BootMode:    "uefi",
	// EBS volumes go to 64 TiB, but an imported snapshot to 16 TiB
	// (import-snapshot's limit); the VMDK writer's own limit is larger.
	Sizes: SizeRule{Min: 1 * gib, Max: 16 << 40, Why: "EC2 import-snapshot takes volumes of 1 GiB to 16 TiB"},
	Guest: Guest{
		Datasources: []string{"Ec2", "None"},
		Cmdline:     []string{"console=ttyS0,115200n8", "nvme_core.io_timeout=4294967295"},
		// Nitro instances expose EBS as NVMe and the network as ENA.
		InitrdModules: []string{"nvme", "ena"},
	},
	// The register-image request, in the API's own field names.
	Import: map[string]any{
		"Architecture":       "x86_64",
		"BootMode":           "uefi",
		"EnaSupport":         true,
		"ImdsSupport":        "v2.0",
		"RootDeviceName":     "/dev/xvda",
		"VirtualizationType": "hvm",
	},
	Docs: "docs/providers/aws.md",
}
