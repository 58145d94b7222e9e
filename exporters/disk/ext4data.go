package disk

import (
	"encoding/binary"
	"fmt"
	"io"
	"slices"
)

// Extent-tree constants (kernel Documentation/filesystems/ext4, "Extent
// Tree").
const (
	inoFlags        = 0x20
	inoBlock        = 0x28 // i_block: 60 bytes, the extent tree's root
	inoFlagExtents  = 0x80000
	inoFlagInline   = 0x10000000
	extentMagic     = 0xf30a
	extentEntrySize = 12
	// A leaf extent longer than this is unwritten (preallocated); its
	// length is the excess.
	extentMaxInit = 32768
	// Deeper trees than this do not exist in ext4 (the kernel's limit).
	extentMaxDepth = 5

	// Features whose metadata lives in the blocks of regular-file inodes:
	// extended-attribute values in inodes of their own, and the orphan
	// file.
	ext4IncompatEAInode  = 0x400
	ext4CompatOrphanFile = 0x1000
)

// blockRange is a run of filesystem blocks.
type blockRange struct {
	Start, Count uint64
}

// fileDataBlocks lists the blocks of the ext4 at offset in r that hold the
// contents of regular files, merged and in order. Everything else that the
// filesystem keeps in blocks (superblocks, group descriptors, bitmaps,
// inode tables, directories, extent-tree nodes, extended-attribute blocks,
// symlink targets, the journal) is not listed.
//
// AddLayer copies what is not listed before debugfs edits the filesystem,
// which never reads a file's contents. The list may leave out file blocks
// (a file mapped without extents, a reserved inode) but never names a block
// that is anything else, so anything it is unsure of is copied: on a
// filesystem with features that keep metadata in regular-file inodes it
// lists nothing.
func fileDataBlocks(r io.ReaderAt, offset int64) ([]blockRange, *ext4Superblock, error) {
	sb, err := readExt4Superblock(r, offset)
	if err != nil {
		return nil, nil, err
	}
	if sb.Incompat&ext4IncompatEAInode != 0 || sb.Compat&ext4CompatOrphanFile != 0 {
		return nil, sb, nil
	}
	le := binary.LittleEndian
	t := extentWalker{r: r, offset: offset, sb: sb, seen: map[uint64]bool{}}
	err = eachInodeRun(r, offset, sb, func(run inodeRun) error {
		for i := range run.count(sb) {
			raw, ino, inUse := run.inode(sb, i)
			mode, flags := le.Uint16(raw[inoMode:]), le.Uint32(raw[inoFlags:])
			if !inUse || ino < sb.FirstIno || mode&0o170000 != 0o100000 ||
				flags&inoFlagExtents == 0 || flags&inoFlagInline != 0 {
				continue
			}
			if err := t.walk(raw[inoBlock:inoBlock+60], 0, -1); err != nil {
				return fmt.Errorf("inode %d: %w", ino, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return mergeRanges(t.found), sb, nil
}

// extentWalker collects the leaf extents of extent trees.
type extentWalker struct {
	r      io.ReaderAt
	offset int64
	sb     *ext4Superblock
	found  []blockRange
	// seen holds the tree blocks read so far. A block is a node of one
	// tree only, once; without the check, nodes that point at one block
	// many times would make the walk exponential in the depth.
	seen map[uint64]bool
}

// walk reads one node of an extent tree: the root in the inode (level 0)
// or a block further down, whose depth must be one less than its parent's
// (want; -1 for the root).
func (t *extentWalker) walk(node []byte, level, want int) error {
	le := binary.LittleEndian
	if len(node) < extentEntrySize || le.Uint16(node) != extentMagic {
		return fmt.Errorf("extent tree node at level %d has no extent header", level)
	}
	entries, depth := int(le.Uint16(node[2:])), int(le.Uint16(node[6:]))
	if depth > extentMaxDepth-level || want >= 0 && depth != want || extentEntrySize*(1+entries) > len(node) {
		return fmt.Errorf("implausible extent tree node at level %d (depth %d, %d entries)", level, depth, entries)
	}
	for e := range entries {
		entry := node[extentEntrySize*(1+e):]
		if depth == 0 {
			n := uint64(le.Uint16(entry[4:]))
			if n > extentMaxInit {
				n -= extentMaxInit
			}
			start := uint64(le.Uint16(entry[6:]))<<32 | uint64(le.Uint32(entry[8:]))
			if start+n > t.sb.BlocksCount {
				return fmt.Errorf("extent of blocks %d+%d lies past the filesystem's end", start, n)
			}
			t.found = append(t.found, blockRange{start, n})
			continue
		}
		child := uint64(le.Uint16(entry[8:]))<<32 | uint64(le.Uint32(entry[4:]))
		if child >= t.sb.BlocksCount {
			return fmt.Errorf("extent tree node points past the filesystem's end (block %d)", child)
		}
		if t.seen[child] {
			return fmt.Errorf("extent tree block %d is reached twice", child)
		}
		t.seen[child] = true
		block := make([]byte, t.sb.BlockSize)
		if _, err := t.r.ReadAt(block, t.offset+int64(child)*t.sb.BlockSize); err != nil {
			return fmt.Errorf("reading extent tree block %d: %w", child, err)
		}
		if err := t.walk(block, level+1, depth-1); err != nil {
			return err
		}
	}
	return nil
}

// mergeRanges sorts ranges and joins those that touch or overlap.
func mergeRanges(in []blockRange) []blockRange {
	slices.SortFunc(in, func(a, b blockRange) int {
		switch {
		case a.Start < b.Start:
			return -1
		case a.Start > b.Start:
			return 1
		}
		return 0
	})
	var out []blockRange
	for _, r := range in {
		if r.Count == 0 {
			continue
		}
		if n := len(out); n > 0 && r.Start <= out[n-1].Start+out[n-1].Count {
			out[n-1].Count = max(out[n-1].Start+out[n-1].Count, r.Start+r.Count) - out[n-1].Start
			continue
		}
		out = append(out, r)
	}
	return out
}
