package disk

import (
	"fmt"
	"io"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/diskfs/go-diskfs/backend"
	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/partition/gpt"
	"github.com/strata-dev/strata/exporters/formats"
	"golang.org/x/sys/unix"
)

// Report is what Inspect finds in a disk image.
type Report struct {
	Path string `json:"path"`
	// Format is the image file's format: raw, qcow2, vhd or vmdk.
	Format string `json:"format"`
	// Size is the virtual disk's size (a raw image's apparent size);
	// Allocated what the image file occupies on the host (small for a
	// sparse image).
	Size      int64 `json:"size"`
	Allocated int64 `json:"allocated"`
	// SectorSize is the logical sector size the GPT was read with.
	SectorSize    int64             `json:"sectorSize"`
	DiskGUID      string            `json:"diskGUID"`
	ProtectiveMBR bool              `json:"protectiveMBR"`
	Partitions    []PartitionReport `json:"partitions"`
	// ESPFiles lists every file on the (first) ESP.
	ESPFiles []FileReport `json:"espFiles,omitempty"`
	// Loader is systemd-boot's configuration read from the ESP, if any.
	Loader *LoaderReport `json:"loader,omitempty"`
	// GRUB lists the ESP's GRUB files (EFI binaries, grub.cfg) of a disk
	// without systemd-boot's configuration, as vendors' disks boot; its
	// entries are not read.
	GRUB []string `json:"grub,omitempty"`
	// Problems are inconsistencies found offline: entries pointing at
	// missing files, a root= that matches no partition, and the like.
	Problems []string `json:"problems,omitempty"`
}

// PartitionReport is one GPT entry and the filesystem found in it.
type PartitionReport struct {
	Number     int               `json:"number"`
	Name       string            `json:"name"`
	TypeGUID   string            `json:"typeGUID"`
	Type       string            `json:"type"`
	GUID       string            `json:"guid"`
	Start      int64             `json:"start"`
	End        int64             `json:"end"`
	Filesystem *FilesystemReport `json:"filesystem,omitempty"`
}

// FilesystemReport describes a filesystem recognised in a partition.
type FilesystemReport struct {
	Type  string `json:"type"` // "vfat" or "ext4", as blkid names them
	Label string `json:"label"`
	// UUID is the ext4 UUID, or the FAT volume ID as blkid prints it
	// (XXXX-XXXX).
	UUID       string `json:"uuid"`
	BlockSize  int64  `json:"blockSize,omitempty"`
	Blocks     uint64 `json:"blocks,omitempty"`
	FreeBlocks uint64 `json:"freeBlocks,omitempty"`
	// ReadOnlyFeatures names an ext4's features that forbid writing it,
	// as mke2fs -O does: the kernel mounts such a filesystem read-only,
	// and strata will not add a layer to it.
	ReadOnlyFeatures []string `json:"readOnlyFeatures,omitempty"`
}

// FileReport is a file on the ESP.
type FileReport struct {
	Path string `json:"path"`
	Size int64  `json:"size"`
}

// LoaderReport is loader/loader.conf plus the entries.
type LoaderReport struct {
	Default string        `json:"default"`
	Timeout string        `json:"timeout"`
	Entries []LoaderEntry `json:"entries"`
}

// LoaderEntry is one parsed loader/entries/*.conf.
type LoaderEntry struct {
	File    string `json:"file"`
	Title   string `json:"title"`
	Version string `json:"version,omitempty"`
	Kernel  string `json:"kernel"`
	Initrd  string `json:"initrd"`
	Cmdline string `json:"cmdline"`
}

// DefaultEntry returns the entry loader.conf's "default" selects, or the
// only entry when there is no default; nil when there is none.
func (r *Report) DefaultEntry() *LoaderEntry {
	if r.Loader == nil {
		return nil
	}
	for i, e := range r.Loader.Entries {
		if ok, _ := path.Match(strings.ToLower(r.Loader.Default), strings.ToLower(path.Base(e.File))); ok {
			return &r.Loader.Entries[i]
		}
	}
	if len(r.Loader.Entries) == 1 {
		return &r.Loader.Entries[0]
	}
	return nil
}

// partitionTypeNames are the types Inspect names; others show their GUID.
var partitionTypeNames = map[string]string{
	TypeESP:                                "EFI System",
	TypeRootX86_64:                         "Linux root (x86-64)",
	"0FC63DAF-8483-4772-8E79-3D69D8477DE4": "Linux filesystem",
	"21686148-6449-6E6F-744E-656564454649": "BIOS boot",
}

// Inspect reads a disk image offline: the GPT through go-diskfs, the ESP's
// files and loader entries through go-diskfs' FAT32 reader, and ext4
// superblocks directly. Nothing is mounted or executed.
//
// The image may be raw, qcow2, VHD or VMDK: Inspect reads the disk inside
// through the format's reader, so a converted image can be checked without
// converting it back.
func Inspect(imgPath string) (*Report, error) {
	img, err := formats.Open(imgPath)
	if err != nil {
		return nil, err
	}
	defer img.Close()
	f := img.File()
	r := &Report{Path: imgPath, Format: img.Format, Size: img.Size, SectorSize: SectorSize}
	var ust unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &ust); err == nil {
		r.Allocated = ust.Blocks * 512
	}

	var b backend.Storage = file.New(f, true)
	if img.Format != "raw" {
		b = newImageStorage(img, filepath.Base(imgPath))
	}
	if err := checkGPTHeaders(b, r.Size); err != nil {
		return nil, fmt.Errorf("%s: reading GPT: %w", imgPath, err)
	}
	table, err := gpt.Read(b, SectorSize, SectorSize)
	if err != nil {
		return nil, fmt.Errorf("%s: reading GPT: %w", imgPath, err)
	}
	if table.RecoveredFromBackup {
		r.Problems = append(r.Problems, "primary GPT is damaged; read the backup")
	}
	r.DiskGUID = strings.ToLower(table.GUID)
	r.ProtectiveMBR = table.ProtectiveMBR

	var esp *PartitionReport
	for _, p := range table.Partitions {
		if err := checkPartitionFits(p, r.Size); err != nil {
			return nil, fmt.Errorf("%s: reading GPT: %w", imgPath, err)
		}
		pr := PartitionReport{
			Number:   p.Index,
			Name:     p.Name,
			TypeGUID: strings.ToUpper(string(p.Type)),
			GUID:     strings.ToLower(p.GUID),
			Start:    int64(p.Start) * SectorSize,
			End:      int64(p.End+1) * SectorSize,
		}
		pr.Type = partitionTypeNames[pr.TypeGUID]
		if pr.Type == "" {
			pr.Type = pr.TypeGUID
		}
		pr.Filesystem = probeFilesystem(b, pr.Start)
		r.Partitions = append(r.Partitions, pr)
	}
	sort.Slice(r.Partitions, func(i, j int) bool { return r.Partitions[i].Number < r.Partitions[j].Number })
	for i := range r.Partitions {
		if r.Partitions[i].TypeGUID == TypeESP {
			esp = &r.Partitions[i]
			break
		}
	}
	if esp == nil {
		r.Problems = append(r.Problems, "no EFI System Partition")
		return r, nil
	}
	if err := inspectESP(r, b, *esp); err != nil {
		return nil, fmt.Errorf("%s: reading ESP: %w", imgPath, err)
	}
	return r, nil
}

// probeFilesystem recognises ext4 and FAT32 by their superblocks, and
// names (by magic number only) the filesystems a vendor's disk may hold
// that strata does not read.
func probeFilesystem(f io.ReaderAt, start int64) *FilesystemReport {
	if sb, err := readExt4Superblock(f, start); err == nil {
		return &FilesystemReport{
			Type:             "ext4",
			Label:            sb.Label,
			UUID:             sb.UUID.String(),
			BlockSize:        sb.BlockSize,
			Blocks:           sb.BlocksCount,
			FreeBlocks:       sb.FreeBlocks,
			ReadOnlyFeatures: ext4ReadOnlyFeatures(sb.RoCompat),
		}
	}
	if t := otherFilesystem(f, start); t != "" {
		return &FilesystemReport{Type: t}
	}
	boot := make([]byte, 512)
	if _, err := f.ReadAt(boot, start); err != nil {
		return nil
	}
	if g, err := parseFAT32BootSector(boot); err == nil {
		return &FilesystemReport{
			Type:      "vfat",
			Label:     g.Label,
			UUID:      fmt.Sprintf("%04X-%04X", g.VolumeID>>16, g.VolumeID&0xffff),
			BlockSize: g.clusterBytes(),
		}
	}
	return nil
}
