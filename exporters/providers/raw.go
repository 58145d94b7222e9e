package providers

// raw is the disk as assembled, for anything that imports a plain image:
// bare metal, Proxmox, Equinix Metal, or a pipeline of the user's own.
var raw = Provider{
	Name:        "raw",
	Description: "the raw GPT disk, holes kept sparse",
	Formats:     []string{"raw"},
	BootMode:    "uefi",
	Docs:        "docs/providers/raw.md",
}
