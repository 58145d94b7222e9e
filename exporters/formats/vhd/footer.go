// Package vhd writes and reads Virtual Hard Disk images (Microsoft's
// "Virtual Hard Disk Image Format Specification", version 1.0): fixed
// images, which Azure requires (the raw disk followed by a 512-byte footer),
// and dynamic images (a block allocation table over 2 MiB blocks).
package vhd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

const (
	footerSize = 512
	sectorSize = 512

	// Disk types.
	TypeFixed   = 2
	TypeDynamic = 3

	// MaxSize is the largest virtual disk VHD allows (2040 GiB); qemu and
	// Hyper-V refuse anything bigger.
	MaxSize = 2040 << 30

	cookie        = "conectix"
	featReserved  = 0x00000002 // "must always be set"
	formatVersion = 0x00010000
	noDataOffset  = 0xFFFFFFFFFFFFFFFF
)

// Creator fields. "win " tells readers that the current size field, not
// the CHS geometry, is the disk's size (Hyper-V's semantics, which Azure
// uses). qemu decides exactly that way: for any other creator it derives
// the size from the geometry, which cannot express most whole-MiB sizes and
// would silently shorten the disk.
var (
	creatorApp     = [4]byte{'w', 'i', 'n', ' '}
	creatorVersion = uint32(0x00010000)
	creatorHostOS  = uint32(0x5769326B) // "Wi2k"
)

// vhdEpoch is time zero for the footer's timestamp.
var vhdEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Footer is the hard disk footer, field by field.
type Footer struct {
	Cookie             [8]byte
	Features           uint32
	FileFormatVersion  uint32
	DataOffset         uint64 // the dynamic header's offset; all ones for fixed disks
	Timestamp          uint32 // seconds since 2000-01-01 UTC
	CreatorApplication [4]byte
	CreatorVersion     uint32
	CreatorHostOS      uint32
	OriginalSize       uint64
	CurrentSize        uint64
	Cylinders          uint16
	Heads              uint8
	SectorsPerTrack    uint8
	DiskType           uint32
	Checksum           uint32
	UniqueID           [16]byte
	SavedState         uint8
}

// newFooter fills in a footer for a disk of size bytes.
func newFooter(diskType uint32, size int64, id [16]byte, t time.Time) Footer {
	f := Footer{
		Features:           featReserved,
		FileFormatVersion:  formatVersion,
		DataOffset:         noDataOffset,
		CreatorApplication: creatorApp,
		CreatorVersion:     creatorVersion,
		CreatorHostOS:      creatorHostOS,
		OriginalSize:       uint64(size),
		CurrentSize:        uint64(size),
		DiskType:           diskType,
		UniqueID:           id,
	}
	copy(f.Cookie[:], cookie)
	if !t.IsZero() && t.After(vhdEpoch) {
		f.Timestamp = uint32(min(t.Sub(vhdEpoch)/time.Second, 1<<32-1))
	}
	f.Cylinders, f.Heads, f.SectorsPerTrack = Geometry(size / sectorSize)
	return f
}

// Marshal encodes the footer, computing its checksum.
func (f *Footer) Marshal() []byte {
	b := make([]byte, footerSize)
	be := binary.BigEndian
	copy(b[0:8], f.Cookie[:])
	be.PutUint32(b[8:], f.Features)
	be.PutUint32(b[12:], f.FileFormatVersion)
	be.PutUint64(b[16:], f.DataOffset)
	be.PutUint32(b[24:], f.Timestamp)
	copy(b[28:32], f.CreatorApplication[:])
	be.PutUint32(b[32:], f.CreatorVersion)
	be.PutUint32(b[36:], f.CreatorHostOS)
	be.PutUint64(b[40:], f.OriginalSize)
	be.PutUint64(b[48:], f.CurrentSize)
	be.PutUint16(b[56:], f.Cylinders)
	b[58] = f.Heads
	b[59] = f.SectorsPerTrack
	be.PutUint32(b[60:], f.DiskType)
	copy(b[68:84], f.UniqueID[:])
	b[84] = f.SavedState
	f.Checksum = checksum(b, 64)
	be.PutUint32(b[64:], f.Checksum)
	return b
}

// ParseFooter decodes a footer, checking its cookie and checksum.
func ParseFooter(b []byte) (Footer, error) {
	var f Footer
	if len(b) < footerSize {
		return f, errors.New("vhd: footer too short")
	}
	be := binary.BigEndian
	copy(f.Cookie[:], b[0:8])
	if string(f.Cookie[:]) != cookie {
		return f, fmt.Errorf("vhd: bad footer cookie %q", f.Cookie[:])
	}
	f.Features = be.Uint32(b[8:])
	f.FileFormatVersion = be.Uint32(b[12:])
	f.DataOffset = be.Uint64(b[16:])
	f.Timestamp = be.Uint32(b[24:])
	copy(f.CreatorApplication[:], b[28:32])
	f.CreatorVersion = be.Uint32(b[32:])
	f.CreatorHostOS = be.Uint32(b[36:])
	f.OriginalSize = be.Uint64(b[40:])
	f.CurrentSize = be.Uint64(b[48:])
	f.Cylinders = be.Uint16(b[56:])
	f.Heads = b[58]
	f.SectorsPerTrack = b[59]
	f.DiskType = be.Uint32(b[60:])
	f.Checksum = be.Uint32(b[64:])
	copy(f.UniqueID[:], b[68:84])
	f.SavedState = b[84]
	if sum := checksum(b[:footerSize], 64); sum != f.Checksum {
		return f, fmt.Errorf("vhd: footer checksum %#08x, computed %#08x", f.Checksum, sum)
	}
	return f, nil
}

// checksum is the spec's: the one's complement of the byte sum, skipping
// the four checksum bytes at skip.
func checksum(b []byte, skip int) uint32 {
	var sum uint32
	for i, c := range b {
		if i < skip || i >= skip+4 {
			sum += uint32(c)
		}
	}
	return ^sum
}

// Geometry is the spec's CHS algorithm (appendix "CHS Calculation") for a
// disk of totalSectors sectors. Sizes beyond what CHS can express get the
// largest geometry, 65535/16/255.
func Geometry(totalSectors int64) (cylinders uint16, heads, sectorsPerTrack uint8) {
	totalSectors = min(totalSectors, 65535*16*255)
	var spt, h, cylTimesHeads int64
	if totalSectors >= 65535*16*63 {
		spt, h = 255, 16
		cylTimesHeads = totalSectors / spt
	} else {
		spt = 17
		cylTimesHeads = totalSectors / spt
		h = max((cylTimesHeads+1023)/1024, 4)
		if cylTimesHeads >= h*1024 || h > 16 {
			spt, h = 31, 16
			cylTimesHeads = totalSectors / spt
		}
		if cylTimesHeads >= h*1024 {
			spt, h = 63, 16
			cylTimesHeads = totalSectors / spt
		}
	}
	return uint16(cylTimesHeads / h), uint8(h), uint8(spt)
}
