package disk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// inodeGroup is a block group that has handed out inodes: where its inode
// table lies, how many of its first inodes it ever used, and its inode
// bitmap, which says which of those are in use now.
type inodeGroup struct {
	index    uint64
	tableOff int64 // byte offset in the image
	used     int64
	bitmap   []byte
}

// inodeRunBytes bounds one read of an inode table, which can be 32 GiB in
// a group of 64 KiB blocks.
const inodeRunBytes = 1 << 20

// inodeRun is a stretch of a group's inode table, read in one piece.
type inodeRun struct {
	group inodeGroup
	first int64  // the group's index of the first inode in table
	table []byte // the raw inodes
	off   int64  // where table lies in the image
}

func (run inodeRun) count(sb *ext4Superblock) int64 { return int64(len(run.table)) / sb.InodeSize }

// inode returns the run's inode i (from 0): its bytes, its number and
// whether the bitmap has it in use.
func (run inodeRun) inode(sb *ext4Superblock, i int64) (raw []byte, ino uint32, inUse bool) {
	n := run.first + i
	raw = run.table[i*sb.InodeSize : (i+1)*sb.InodeSize]
	return raw, uint32(run.group.index)*sb.InodesPerGroup + uint32(n) + 1, run.group.bitmap[n/8]&(1<<(n%8)) != 0
}

// eachInodeRun calls fn with the inode tables of the ext4 at offset, the
// part of each group's that was ever used, in order, a MiB at a time. It
// reads the group descriptors a block at a time and one bitmap at a time,
// so that a superblock claiming billions of groups costs what the image
// holds rather than what it claims: the first read past its end stops it.
func eachInodeRun(r io.ReaderAt, offset int64, sb *ext4Superblock, fn func(inodeRun) error) error {
	if sb.Incompat&ext4IncompatMetaBG != 0 {
		// Its descriptors are spread over the disk, not in one table.
		return errors.New("the filesystem uses meta_bg, which strata does not read")
	}
	count := (sb.BlocksCount - uint64(sb.FirstDataBlock) + uint64(sb.BlocksPerGroup) - 1) / uint64(sb.BlocksPerGroup)
	perBlock := uint64(sb.BlockSize / sb.DescSize)
	gdtOff := offset + (int64(sb.FirstDataBlock)+1)*sb.BlockSize
	gdt := make([]byte, sb.BlockSize)
	le := binary.LittleEndian
	for g := uint64(0); g < count; g++ {
		if g%perBlock == 0 {
			if _, err := r.ReadAt(gdt, gdtOff+int64(g/perBlock)*sb.BlockSize); err != nil {
				return fmt.Errorf("reading group descriptors: %w", err)
			}
		}
		d := gdt[int64(g%perBlock)*sb.DescSize:]
		if le.Uint16(d[0x12:])&ext4BGInodeUninit != 0 {
			continue // no inode of this group was ever used
		}
		bitmapBlk, tableBlk := uint64(le.Uint32(d[0x04:])), uint64(le.Uint32(d[0x08:]))
		unused := uint32(le.Uint16(d[0x1c:]))
		if sb.DescSize >= 64 {
			bitmapBlk |= uint64(le.Uint32(d[0x24:])) << 32
			tableBlk |= uint64(le.Uint32(d[0x28:])) << 32
			unused |= uint32(le.Uint16(d[0x32:])) << 16
		}
		used := int64(sb.InodesPerGroup) - int64(unused)
		if used <= 0 {
			continue
		}
		bitmap := make([]byte, sb.BlockSize)
		if _, err := r.ReadAt(bitmap, offset+int64(bitmapBlk)*sb.BlockSize); err != nil {
			return fmt.Errorf("reading inode bitmap of group %d: %w", g, err)
		}
		grp := inodeGroup{index: g, tableOff: offset + int64(tableBlk)*sb.BlockSize, used: used, bitmap: bitmap}
		if err := grp.eachRun(r, sb, fn); err != nil {
			return err
		}
	}
	return nil
}

func (g inodeGroup) eachRun(r io.ReaderAt, sb *ext4Superblock, fn func(inodeRun) error) error {
	step := max(1, inodeRunBytes/sb.InodeSize)
	for first := int64(0); first < g.used; first += step {
		run := inodeRun{group: g, first: first, off: g.tableOff + first*sb.InodeSize}
		run.table = make([]byte, min(step, g.used-first)*sb.InodeSize)
		if _, err := r.ReadAt(run.table, run.off); err != nil {
			return fmt.Errorf("reading inode table of group %d: %w", g.index, err)
		}
		if err := fn(run); err != nil {
			return err
		}
	}
	return nil
}
