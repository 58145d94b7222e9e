package vhd

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/strata-dev/strata/exporters/formats/rawdisk"
	"github.com/strata-dev/strata/exporters/ident"
)

const (
	mib = 1 << 20
	// blockSize is the dynamic disk block size; 2 MiB is the spec's
	// default and what Hyper-V and qemu write.
	blockSize = 2 * mib
	// bitmapSize is a block's sector bitmap (one bit per sector), padded to
	// a sector.
	bitmapSize      = (blockSize/sectorSize/8 + sectorSize - 1) / sectorSize * sectorSize
	dynHeaderSize   = 1024
	dynHeaderOffset = footerSize
	batOffset       = dynHeaderOffset + dynHeaderSize
	unusedBlock     = 0xFFFFFFFF
	// holeBlock is the unit of hole detection in the data: 4 KiB, the
	// usual filesystem block, as qemu-img's default -S 4k.
	holeBlock = 4096
)

// Options configures the writers.
type Options struct {
	// Seed determines the footer's unique ID.
	Seed string
	// Time is the footer's timestamp (zero: none). Use the build's
	// SOURCE_DATE_EPOCH for reproducible images.
	Time time.Time
}

// VirtualSize is the size a disk of size bytes gets as a VHD: rounded up to
// a whole MiB, which Azure requires (and which leaves the tail zeros).
func VirtualSize(size int64) int64 { return (size + mib - 1) / mib * mib }

func prepare(src *rawdisk.Disk, diskType uint32, o Options) (Footer, int64, error) {
	size := VirtualSize(src.Size())
	if size == 0 {
		return Footer{}, 0, fmt.Errorf("vhd: the disk is empty")
	}
	if size > MaxSize {
		return Footer{}, 0, fmt.Errorf("vhd: %d bytes exceed the VHD maximum of 2040 GiB", size)
	}
	return newFooter(diskType, size, ident.UUID(o.Seed, "vhd-unique-id"), o.Time), size, nil
}

// WriteFixed writes src as a fixed VHD: the disk, padded with zeros to a
// whole MiB, then the footer. dst must read as zeros wherever nothing is
// written (a new file): all-zero 4 KiB blocks are skipped and stay holes.
// It returns the file's size.
func WriteFixed(ctx context.Context, dst io.WriterAt, src *rawdisk.Disk, o Options) (int64, error) {
	footer, size, err := prepare(src, TypeFixed, o)
	if err != nil {
		return 0, err
	}
	err = src.ScanOverlapped(ctx, rawdisk.ScanOptions{BlockSize: holeBlock}, func(b *rawdisk.Batch) error {
		defer b.Release()
		return forRuns(b, func(off int64, data []byte) error {
			_, err := dst.WriteAt(data, off)
			return err
		})
	})
	if err != nil {
		return 0, fmt.Errorf("vhd: %w", err)
	}
	if _, err := dst.WriteAt(footer.Marshal(), size); err != nil {
		return 0, fmt.Errorf("vhd: writing footer: %w", err)
	}
	return size + footerSize, nil
}

// forRuns calls fn for every run of consecutive used blocks in b, with
// the run's disk offset and bytes.
func forRuns(b *rawdisk.Batch, fn func(off int64, data []byte) error) error {
	for i := 0; i < b.Blocks(); {
		if !b.Used(i) {
			i++
			continue
		}
		j := i + 1
		for j < b.Blocks() && b.Used(j) {
			j++
		}
		if err := fn(b.Off+int64(i*b.BlockSize), b.Data[i*b.BlockSize:j*b.BlockSize]); err != nil {
			return err
		}
		i = j
	}
	return nil
}

// WriteDynamic writes src as a dynamic VHD: a copy of the footer, the
// dynamic disk header, the block allocation table, then a 2 MiB block
// (sector bitmap first) for every block that holds data, in disk order,
// and the footer. Inside a block, all-zero 4 KiB pieces stay holes in dst.
// It returns the file's size.
func WriteDynamic(ctx context.Context, dst io.WriterAt, src *rawdisk.Disk, o Options) (int64, error) {
	footer, size, err := prepare(src, TypeDynamic, o)
	if err != nil {
		return 0, err
	}
	footer.DataOffset = dynHeaderOffset
	bat := make([]uint32, (size+blockSize-1)/blockSize)
	for i := range bat {
		bat[i] = unusedBlock
	}
	batBytes := (int64(len(bat))*4 + sectorSize - 1) / sectorSize * sectorSize
	next := int64(batOffset) + batBytes // where the next block goes

	bitmap := make([]byte, bitmapSize)
	for i := range bitmap {
		bitmap[i] = 0xFF // every sector of an allocated block is present
	}
	err = src.ScanOverlapped(ctx, rawdisk.ScanOptions{BlockSize: holeBlock}, func(b *rawdisk.Batch) error {
		defer b.Release()
		return forRuns(b, func(off int64, data []byte) error {
			for len(data) > 0 {
				blk := off / blockSize
				if bat[blk] == unusedBlock {
					bat[blk] = uint32(next / sectorSize)
					if _, err := dst.WriteAt(bitmap, next); err != nil {
						return err
					}
					next += bitmapSize + blockSize
				}
				in := off % blockSize
				n := min(int64(len(data)), blockSize-in)
				at := int64(bat[blk])*sectorSize + bitmapSize + in
				if _, err := dst.WriteAt(data[:n], at); err != nil {
					return err
				}
				off, data = off+n, data[n:]
			}
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("vhd: %w", err)
	}
	// BAT entries are 32-bit sector numbers; MaxSize keeps even a full
	// disk's last block below 2^32 sectors (2048 GiB).
	foot := footer.Marshal()
	batBuf := make([]byte, batBytes)
	for i, e := range bat {
		binary.BigEndian.PutUint32(batBuf[4*i:], e)
	}
	for _, w := range []struct {
		data []byte
		off  int64
	}{
		{foot, 0},
		{marshalDynHeader(int64(len(bat))), dynHeaderOffset},
		{batBuf, batOffset},
		{foot, next},
	} {
		if _, err := dst.WriteAt(w.data, w.off); err != nil {
			return 0, fmt.Errorf("vhd: %w", err)
		}
	}
	return next + footerSize, nil
}

// marshalDynHeader encodes the dynamic disk header for a disk without a
// parent.
func marshalDynHeader(entries int64) []byte {
	b := make([]byte, dynHeaderSize)
	be := binary.BigEndian
	copy(b[0:8], "cxsparse")
	be.PutUint64(b[8:], noDataOffset) // unused, all ones
	be.PutUint64(b[16:], batOffset)
	be.PutUint32(b[24:], formatVersion)
	be.PutUint32(b[28:], uint32(entries))
	be.PutUint32(b[32:], blockSize)
	be.PutUint32(b[36:], checksum(b, 36))
	return b
}
