// Package qcow2 writes and reads qcow2 version 3 images (qemu's
// docs/interop/qcow2.txt), plain or with deflate-compressed clusters.
//
// The writer streams a raw disk into the file in one pass: guest clusters
// that hold data go first, in guest order (all-zero clusters stay
// unallocated, reading as zeros), then the L2 tables, the L1 table and the
// refcount structures, and the header last. Every host cluster's refcount
// equals the number of references to it, so `qemu-img check` finds nothing
// to repair.
package qcow2

import (
	"encoding/binary"
	"errors"
	"fmt"
)

const (
	magic = "QFI\xfb"

	// clusterBits gives 64 KiB clusters, qemu's default: one L2 table maps
	// 512 MiB of guest disk.
	clusterBits = 16
	clusterSize = 1 << clusterBits
	// refcountOrder 4: 16-bit refcounts, the only width qemu used before
	// v3 and still its default.
	refcountOrder = 4

	// v3HeaderLength is the header without the optional compression_type
	// field, whose absence means zlib (deflate).
	v3HeaderLength = 104
	v2HeaderLength = 72

	// L1/L2 entry bits.
	flagCopied     = 1 << 63 // refcount is exactly 1
	flagCompressed = 1 << 62
	flagZero       = 1 << 0 // standard cluster reads as zeros (v3)
	offsetMask     = 0x00ff_ffff_ffff_fe00
)

// featDirty is the one incompatible feature the reader accepts (stale
// refcounts do not matter for reading). The others (corrupt, external data
// file, non-zlib compression, extended L2 entries) make it refuse the image.
const featDirty = 1 << 0

// header is the fixed part of a qcow2 header. Snapshots, backing files
// and encryption are never written, and the reader refuses them.
type header struct {
	Version               uint32
	BackingFileOffset     uint64
	BackingFileSize       uint32
	ClusterBits           uint32
	Size                  uint64 // virtual disk size in bytes
	CryptMethod           uint32
	L1Size                uint32 // entries
	L1TableOffset         uint64
	RefcountTableOffset   uint64
	RefcountTableClusters uint32
	NbSnapshots           uint32
	SnapshotsOffset       uint64
	// Version 3 and later.
	IncompatibleFeatures uint64
	CompatibleFeatures   uint64
	AutoclearFeatures    uint64
	RefcountOrder        uint32
	HeaderLength         uint32
	CompressionType      uint8 // present when HeaderLength > 104
}

// marshal encodes a version 3 header, followed by the empty header
// extension that ends the (empty) extension area.
func (h *header) marshal() []byte {
	b := make([]byte, h.HeaderLength+8)
	copy(b, magic)
	be := binary.BigEndian
	be.PutUint32(b[4:], h.Version)
	be.PutUint64(b[8:], h.BackingFileOffset)
	be.PutUint32(b[16:], h.BackingFileSize)
	be.PutUint32(b[20:], h.ClusterBits)
	be.PutUint64(b[24:], h.Size)
	be.PutUint32(b[32:], h.CryptMethod)
	be.PutUint32(b[36:], h.L1Size)
	be.PutUint64(b[40:], h.L1TableOffset)
	be.PutUint64(b[48:], h.RefcountTableOffset)
	be.PutUint32(b[56:], h.RefcountTableClusters)
	be.PutUint32(b[60:], h.NbSnapshots)
	be.PutUint64(b[64:], h.SnapshotsOffset)
	be.PutUint64(b[72:], h.IncompatibleFeatures)
	be.PutUint64(b[80:], h.CompatibleFeatures)
	be.PutUint64(b[88:], h.AutoclearFeatures)
	be.PutUint32(b[96:], h.RefcountOrder)
	be.PutUint32(b[100:], h.HeaderLength)
	// b[h.HeaderLength:] stays zero: extension type 0 (end), length 0.
	return b
}

// parseHeader decodes and sanity-checks a header read from the start of
// an image of fileSize bytes.
func parseHeader(b []byte, fileSize int64) (*header, error) {
	if len(b) < v2HeaderLength || string(b[:4]) != magic {
		return nil, errors.New("not a qcow2 image (bad magic)")
	}
	be := binary.BigEndian
	h := &header{
		Version:               be.Uint32(b[4:]),
		BackingFileOffset:     be.Uint64(b[8:]),
		BackingFileSize:       be.Uint32(b[16:]),
		ClusterBits:           be.Uint32(b[20:]),
		Size:                  be.Uint64(b[24:]),
		CryptMethod:           be.Uint32(b[32:]),
		L1Size:                be.Uint32(b[36:]),
		L1TableOffset:         be.Uint64(b[40:]),
		RefcountTableOffset:   be.Uint64(b[48:]),
		RefcountTableClusters: be.Uint32(b[56:]),
		NbSnapshots:           be.Uint32(b[60:]),
		SnapshotsOffset:       be.Uint64(b[64:]),
		RefcountOrder:         refcountOrder,
		HeaderLength:          v2HeaderLength,
	}
	switch h.Version {
	case 2:
	case 3:
		if len(b) < v3HeaderLength {
			return nil, errors.New("truncated version 3 header")
		}
		h.IncompatibleFeatures = be.Uint64(b[72:])
		h.CompatibleFeatures = be.Uint64(b[80:])
		h.AutoclearFeatures = be.Uint64(b[88:])
		h.RefcountOrder = be.Uint32(b[96:])
		h.HeaderLength = be.Uint32(b[100:])
		if h.HeaderLength < v3HeaderLength || h.HeaderLength%8 != 0 {
			return nil, fmt.Errorf("bad header length %d", h.HeaderLength)
		}
		if h.HeaderLength > v3HeaderLength && len(b) > v3HeaderLength {
			h.CompressionType = b[v3HeaderLength]
		}
	default:
		return nil, fmt.Errorf("unsupported qcow2 version %d", h.Version)
	}
	if h.ClusterBits < 9 || h.ClusterBits > 21 {
		return nil, fmt.Errorf("cluster bits %d out of range 9-21", h.ClusterBits)
	}
	if uint64(h.HeaderLength) > 1<<h.ClusterBits {
		return nil, fmt.Errorf("header length %d exceeds the cluster size", h.HeaderLength)
	}
	if h.CryptMethod != 0 {
		return nil, errors.New("encrypted images are not supported")
	}
	if h.BackingFileOffset != 0 {
		return nil, errors.New("images with a backing file are not supported")
	}
	if unknown := h.IncompatibleFeatures &^ featDirty; unknown != 0 {
		return nil, fmt.Errorf("unsupported incompatible features %#x", unknown)
	}
	if h.CompressionType != 0 {
		return nil, fmt.Errorf("unsupported compression type %d", h.CompressionType)
	}
	if h.RefcountOrder > 6 {
		return nil, fmt.Errorf("refcount order %d out of range", h.RefcountOrder)
	}
	cs := uint64(1) << h.ClusterBits
	if h.Size > 1<<56 {
		return nil, fmt.Errorf("virtual size %d too large", h.Size)
	}
	l2Entries := cs / 8
	need := (h.Size + cs*l2Entries - 1) / (cs * l2Entries)
	if uint64(h.L1Size) < need {
		return nil, fmt.Errorf("L1 table of %d entries cannot map %d bytes", h.L1Size, h.Size)
	}
	if err := inFile("L1 table", h.L1TableOffset, uint64(h.L1Size)*8, cs, fileSize); err != nil {
		return nil, err
	}
	if err := inFile("refcount table", h.RefcountTableOffset, uint64(h.RefcountTableClusters)*cs, cs, fileSize); err != nil {
		return nil, err
	}
	return h, nil
}

// inFile checks that a cluster-aligned table lies within the file.
func inFile(what string, off, length, cs uint64, fileSize int64) error {
	if off%cs != 0 {
		return fmt.Errorf("%s offset %#x not cluster-aligned", what, off)
	}
	if off > uint64(fileSize) || length > uint64(fileSize)-off {
		return fmt.Errorf("%s (%d bytes at %#x) lies beyond the end of the file", what, length, off)
	}
	return nil
}
