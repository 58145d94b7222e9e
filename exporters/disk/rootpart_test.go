package disk

import (
	"strings"
	"testing"
)

// Flatcar's partition table as its SDK documents it ("Flatcar Container
// Linux disk layout", and the GPT types in "Constants and IDs"). Flatcar's
// image cannot be downloaded here, so this stands in for it.
func flatcarPartitions(rootFS *FilesystemReport) []PartitionReport {
	ext := func(label string) *FilesystemReport { return &FilesystemReport{Type: "ext4", Label: label} }
	return []PartitionReport{
		{Number: 1, Name: "EFI-SYSTEM", TypeGUID: TypeESP, Type: "EFI System", Filesystem: &FilesystemReport{Type: "vfat"}},
		{Number: 2, Name: "BIOS-BOOT", TypeGUID: "21686148-6449-6E6F-744E-656564454649", Type: "BIOS boot"},
		// USR-A is ext2, which the ext4 reader recognises: it must
		// still never be chosen.
		{Number: 3, Name: "USR-A", TypeGUID: TypeCoreOSUsr, Type: TypeCoreOSUsr, Filesystem: ext("USR-A")},
		{Number: 4, Name: "USR-B", TypeGUID: TypeCoreOSUsr, Type: TypeCoreOSUsr},
		{Number: 5, Name: "ROOT-C", TypeGUID: TypeCoreOSUsr, Type: TypeCoreOSUsr},
		// OEM is a plain Linux data partition holding btrfs, ahead of
		// ROOT: the data-partition rule alone would pick or refuse it.
		{Number: 6, Name: "OEM", TypeGUID: TypeLinuxData, Type: "Linux filesystem", Filesystem: &FilesystemReport{Type: "btrfs"}},
		{Number: 7, Name: "OEM-CONFIG", TypeGUID: "C95DC21A-DF0E-4340-8D7B-26CBFA9A03E0", Type: "C95DC21A-DF0E-4340-8D7B-26CBFA9A03E0"},
		{Number: 9, Name: "ROOT", TypeGUID: TypeCoreOSResize, Type: TypeCoreOSResize, Filesystem: rootFS},
	}
}

func TestChooseRoot(t *testing.T) {
	ext4 := &FilesystemReport{Type: "ext4"}
	tests := []struct {
		name  string
		parts []PartitionReport
		want  int
	}{
		{"strata's own disk", []PartitionReport{
			{Number: 1, Name: "ESP", TypeGUID: TypeESP, Filesystem: &FilesystemReport{Type: "vfat"}},
			{Number: 2, Name: "root", TypeGUID: TypeRootX86_64, Filesystem: ext4},
		}, 2},
		{"Flatcar: ROOT, never USR-A or OEM", flatcarPartitions(ext4), 9},
		{"Debian cloud image: root is partition 1, ESP 15", []PartitionReport{
			{Number: 1, TypeGUID: TypeLinuxData, Filesystem: ext4},
			{Number: 14, TypeGUID: "21686148-6449-6E6F-744E-656564454649"},
			{Number: 15, TypeGUID: TypeESP, Filesystem: &FilesystemReport{Type: "vfat"}},
		}, 1},
		{"a root type beats an earlier data partition", []PartitionReport{
			{Number: 1, TypeGUID: TypeLinuxData, Filesystem: ext4},
			{Number: 2, TypeGUID: "B921B045-1DF0-41C3-AF44-4C6F280D3FAE", Filesystem: ext4},
		}, 2},
		{"the first data partition holding ext4", []PartitionReport{
			{Number: 1, TypeGUID: TypeLinuxData, Filesystem: &FilesystemReport{Type: "xfs"}},
			{Number: 2, TypeGUID: TypeLinuxData},
			{Number: 3, TypeGUID: TypeLinuxData, Filesystem: ext4},
		}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := chooseRoot(&Report{Path: "base.raw", Partitions: tt.parts})
			if err != nil {
				t.Fatal(err)
			}
			if got.Number != tt.want {
				t.Errorf("chose partition %d, want %d", got.Number, tt.want)
			}
		})
	}
}

func TestChooseRootRefuses(t *testing.T) {
	tests := []struct {
		name  string
		parts []PartitionReport
		want  []string // every one must be in the error
	}{
		{"Flatcar with a btrfs ROOT", flatcarPartitions(&FilesystemReport{Type: "btrfs"}),
			[]string{"base.raw", "partition 9 (named ROOT)", "it holds btrfs", `3 "USR-A" CoreOS usr ext4`, `6 "OEM" Linux filesystem btrfs`, `1 "EFI-SYSTEM" EFI System vfat`}},
		{"an xfs root (the RHEL family's)", []PartitionReport{
			{Number: 1, TypeGUID: TypeESP, Type: "EFI System", Filesystem: &FilesystemReport{Type: "vfat"}},
			{Number: 2, TypeGUID: TypeRootX86_64, Type: "Linux root (x86-64)", Filesystem: &FilesystemReport{Type: "xfs"}},
			{Number: 3, TypeGUID: TypeLinuxData, Type: "Linux filesystem", Filesystem: &FilesystemReport{Type: "ext4"}},
		}, []string{"partition 2 (of the x86-64 root type)", "it holds xfs", `2 "" Linux root (x86-64) xfs`}},
		{"a read-only ext4 root", []PartitionReport{
			{Number: 1, TypeGUID: TypeRootX86_64, Type: "Linux root (x86-64)", Filesystem: &FilesystemReport{Type: "ext4", ReadOnlyFeatures: []string{"shared_blocks"}}},
		}, []string{"read-only features (shared_blocks)", "(read-only features)"}},
		{"a root with no filesystem strata knows", []PartitionReport{
			{Number: 3, Name: "ROOT", TypeGUID: TypeCoreOSResize, Type: TypeCoreOSResize},
		}, []string{"partition 3", "no filesystem strata recognises", `3 "ROOT" CoreOS resize no filesystem recognised`}},
		{"no candidate at all", []PartitionReport{
			{Number: 1, TypeGUID: TypeESP, Type: "EFI System", Filesystem: &FilesystemReport{Type: "vfat"}},
			{Number: 2, TypeGUID: TypeLinuxData, Type: "Linux filesystem", Filesystem: &FilesystemReport{Type: "squashfs"}},
		}, []string{"no root partition strata can write to", `2 "" Linux filesystem squashfs`}},
		{"no partitions", nil, []string{"partitions found: none"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := chooseRoot(&Report{Path: "base.raw", Partitions: tt.parts})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestExt4ReadOnlyFeatures(t *testing.T) {
	if got := ext4ReadOnlyFeatures(ext4RoCompatCsum); got != nil {
		t.Errorf("metadata_csum is writable, got %v", got)
	}
	if got := strings.Join(ext4ReadOnlyFeatures(0x5000|ext4RoCompatCsum), ","); got != "read-only,shared_blocks" {
		t.Errorf("got %q", got)
	}
}
