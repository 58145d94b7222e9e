package providers

// gcp imports a disk.raw inside a gzip'd tar from Cloud Storage with
// `gcloud compute images create --source-uri`.
var gcp = Provider{
	Name:        "gcp",
	Description: "Google Compute Engine: disk.raw in a tar.gz, UEFI guest OS features",
	Formats:     []string{"gce"},
	BootMode:    "uefi",
	// GCE rejects an image whose disk.raw is not a whole number of GiB;
	// padding it would leave the backup GPT header short of the disk's
	// end, so the size must be right from assembly on.
	Sizes: SizeRule{Unit: gib, Min: 1 * gib, Max: 2048 * gib, Why: "GCE imports disk.raw of whole GiB, at most 2 TiB"},
	Guest: Guest{
		Datasources:   []string{"GCE", "None"},
		Cmdline:       []string{"console=ttyS0,115200n8"},
		InitrdModules: []string{"virtio_scsi", "virtio_pci", "nvme", "gve"},
	},
	// `gcloud compute images create --guest-os-features`.
	Import: map[string]any{
		"guest_os_features": []string{"UEFI_COMPATIBLE", "VIRTIO_SCSI_MULTIQUEUE", "GVNIC"},
	},
	Docs: "docs/providers/gcp.md",
}
