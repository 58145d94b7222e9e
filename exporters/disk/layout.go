// Package disk assembles a bootable GPT disk image (UEFI, systemd-boot) from
// a root filesystem tree, without loop devices, mounts or privileges beyond
// reading the tree.
//
// The image has two partitions: an EFI System Partition (FAT32, built in Go
// with go-diskfs) holding systemd-boot, the kernel, the initrd and the loader
// entries, and an ext4 root written by `mke2fs -d` straight at its offset in
// the image. Every identifier on the disk is derived from Options.Seed, and
// every timestamp from Options.Epoch, so equal inputs give equal bytes.
package disk

import (
	"fmt"
	"time"
)

// Sizes used by the layout. The 1 MiB alignment is what every partitioning
// tool defaults to; it keeps partitions aligned for any physical sector and
// erase-block size a cloud disk is likely to have.
const (
	// SectorSize is the logical sector size the image is laid out for.
	SectorSize = 512
	// Alignment is the boundary every partition starts and ends on.
	Alignment = 1 << 20
	// DefaultESPSize is the ESP size used when Options.ESPSize is zero.
	DefaultESPSize = 256 << 20
	// MinESPSize is the smallest ESP accepted. go-diskfs uses 512-byte
	// clusters up to 260 MiB, and a FAT32 volume needs at least 65525
	// clusters or firmware reads it as FAT16; 64 MiB leaves a safe margin.
	MinESPSize = 64 << 20
	// MinRootSize is the smallest root partition accepted; below it mke2fs
	// switches to "small" filesystem parameters and a journal barely fits.
	MinRootSize = 64 << 20
	// DefaultRootLabel is the ext4 label used when Options.RootLabel is empty.
	DefaultRootLabel = "root"
	// DefaultTitle is the loader entry title used when Options.Title is empty.
	DefaultTitle = "Linux"

	// gptReservedSectors is what one GPT copy takes: a header sector plus a
	// 128-entry array of 128-byte entries (32 sectors).
	gptReservedSectors = 1 + 32
)

// GPT partition type GUIDs used by the layout.
const (
	// TypeESP is the EFI System Partition type.
	TypeESP = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
	// TypeRootX86_64 is the Discoverable Partitions type for an x86-64 root,
	// so systemd-gpt-auto-generator can find the root even without root=.
	TypeRootX86_64 = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"
)

// Options describe the disk to build.
type Options struct {
	// Size is the whole disk in bytes, a multiple of 1 MiB. The root
	// partition fills what the ESP and the GPT leave.
	Size int64
	// ESPSize is the EFI System Partition size in bytes, a multiple of
	// 1 MiB; zero means DefaultESPSize.
	ESPSize int64
	// Seed feeds every identifier on the disk (disk and partition GUIDs,
	// ext4 UUID and hash seed, FAT volume ID), typically the spec digest.
	// Assemble replaces an empty seed with one derived from the tree and
	// the other options when Epoch is set (a reproducible build), and
	// with a random one otherwise, so two unseeded disks never share a
	// PARTUUID.
	Seed string
	// Cmdline is appended to "root=PARTUUID=<root partition GUID> rw".
	Cmdline string
	// RootLabel is the ext4 label (at most 16 bytes); empty means "root".
	RootLabel string
	// Title is the loader entry title; empty means DefaultTitle.
	Title string
	// Epoch is the time written into both filesystems; zero means now.
	// Callers set it from SOURCE_DATE_EPOCH for reproducible builds.
	Epoch time.Time
}

// withDefaults fills the zero values documented on Options, except Seed and
// Epoch, which Assemble resolves because they are not pure.
func (o Options) withDefaults() Options {
	if o.ESPSize == 0 {
		o.ESPSize = DefaultESPSize
	}
	if o.RootLabel == "" {
		o.RootLabel = DefaultRootLabel
	}
	if o.Title == "" {
		o.Title = DefaultTitle
	}
	return o
}

// Partition is one GPT entry of the layout. Offsets are in bytes.
type Partition struct {
	// Number is the 1-based GPT entry index (the N in /dev/vdaN).
	Number int `json:"number"`
	// Name is the GPT partition name.
	Name string `json:"name"`
	// TypeGUID is the GPT partition type, upper case as in the UEFI spec.
	TypeGUID string `json:"typeGUID"`
	// GUID is the unique partition GUID (PARTUUID), lower case.
	GUID string `json:"guid"`
	// Start is the first byte of the partition.
	Start int64 `json:"start"`
	// End is one past the last byte of the partition.
	End int64 `json:"end"`
}

// Size is the partition length in bytes.
func (p Partition) Size() int64 { return p.End - p.Start }

// FirstLBA is the partition's first sector, as stored in the GPT entry.
func (p Partition) FirstLBA() uint64 { return uint64(p.Start / SectorSize) }

// LastLBA is the partition's last sector (inclusive, as GPT stores it).
func (p Partition) LastLBA() uint64 { return uint64(p.End/SectorSize) - 1 }

// Layout is the planned partition table of a disk.
type Layout struct {
	// SectorSize is the logical sector size, always 512.
	SectorSize int64 `json:"sectorSize"`
	// DiskSize is the image size in bytes.
	DiskSize int64 `json:"diskSize"`
	// DiskGUID is the GPT disk GUID, lower case.
	DiskGUID string `json:"diskGUID"`
	// ESP is partition 1, the EFI System Partition.
	ESP Partition `json:"esp"`
	// Root is partition 2, the ext4 root.
	Root Partition `json:"root"`
	// RootFSUUID is the ext4 filesystem UUID.
	RootFSUUID string `json:"rootFSUUID"`
	// RootHashSeed is the ext4 directory hash seed (normally random).
	RootHashSeed string `json:"rootHashSeed"`
	// ESPVolumeID is the FAT volume serial number.
	ESPVolumeID uint32 `json:"espVolumeID"`
}

// PlanLayout computes the partition table for opts: the ESP starts at
// 1 MiB, the root follows it and ends on the last 1 MiB boundary before the
// backup GPT. It is pure: identifiers come from opts.Seed as given (an empty
// seed is valid here; Assemble is where it gets randomised).
func PlanLayout(opts Options) (Layout, error) {
	opts = opts.withDefaults()
	switch {
	case opts.Size <= 0:
		return Layout{}, fmt.Errorf("disk size must be positive, got %d", opts.Size)
	case opts.Size%Alignment != 0:
		return Layout{}, fmt.Errorf("disk size %d is not a multiple of 1 MiB", opts.Size)
	case opts.ESPSize < 0 || opts.ESPSize%Alignment != 0:
		return Layout{}, fmt.Errorf("ESP size %d is not a positive multiple of 1 MiB", opts.ESPSize)
	case opts.ESPSize < MinESPSize:
		return Layout{}, fmt.Errorf("ESP size %d MiB is below the %d MiB a FAT32 ESP needs", opts.ESPSize>>20, MinESPSize>>20)
	case len(opts.RootLabel) > 16:
		// The label doubles as the GPT name (36 UTF-16 units), so the ext4
		// limit is the binding one.
		return Layout{}, fmt.Errorf("root label %q is longer than the 16 bytes ext4 allows", opts.RootLabel)
	}

	espStart := int64(Alignment)
	espEnd := espStart + opts.ESPSize
	// The backup GPT takes the last 33 sectors; the root ends on the last
	// alignment boundary before it, which for a MiB-multiple disk wastes
	// just under 1 MiB.
	rootEnd := (opts.Size - gptReservedSectors*SectorSize) / Alignment * Alignment
	if rootEnd-espEnd < MinRootSize {
		need := espEnd + MinRootSize + Alignment
		return Layout{}, fmt.Errorf("disk size %d MiB is too small: a %d MiB ESP and a %d MiB minimum root need at least %d MiB",
			opts.Size>>20, opts.ESPSize>>20, MinRootSize>>20, need>>20)
	}

	return Layout{
		SectorSize: SectorSize,
		DiskSize:   opts.Size,
		DiskGUID:   deriveUUID(opts.Seed, purposeDiskGUID).String(),
		ESP: Partition{
			Number:   1,
			Name:     "ESP",
			TypeGUID: TypeESP,
			GUID:     deriveUUID(opts.Seed, purposeESPGUID).String(),
			Start:    espStart,
			End:      espEnd,
		},
		Root: Partition{
			Number:   2,
			Name:     opts.RootLabel,
			TypeGUID: TypeRootX86_64,
			GUID:     deriveUUID(opts.Seed, purposeRootGUID).String(),
			Start:    espEnd,
			End:      rootEnd,
		},
		RootFSUUID:   deriveUUID(opts.Seed, purposeRootFSUUID).String(),
		RootHashSeed: deriveUUID(opts.Seed, purposeRootHashSeed).String(),
		ESPVolumeID:  deriveVolumeID(opts.Seed),
	}, nil
}
