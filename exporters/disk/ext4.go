package disk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"time"

	"github.com/google/uuid"
)

// ext4 on-disk constants (kernel Documentation/filesystems/ext4).
const (
	ext4SuperblockOffset = 1024
	ext4Magic            = 0xef53

	ext4IncompatFlexBG   = 0x200
	ext4IncompatMetaBG   = 0x10
	ext4Incompat64Bit    = 0x80
	ext4IncompatCsumSeed = 0x2000
	ext4RoCompatCsum     = 0x400

	// The largest block is 64 KiB (1024 << 6), the largest group
	// descriptor 1 KiB.
	ext4MaxLogBlock = 6
	ext4MaxDescSize = 1024

	ext4BGInodeUninit = 0x1
	ext4RootInode     = 2
	ext4GoodOldInode  = 128
)

// ext4Superblock holds the superblock fields we read.
type ext4Superblock struct {
	InodesCount    uint32
	BlocksCount    uint64
	FreeBlocks     uint64
	FirstDataBlock uint32
	BlockSize      int64
	BlocksPerGroup uint32
	InodesPerGroup uint32
	InodeSize      int64
	DescSize       int64
	Compat         uint32
	Incompat       uint32
	RoCompat       uint32
	UUID           uuid.UUID
	Label          string
	ChecksumSeed   uint32
	FirstIno       uint32 // the first inode not reserved
}

// readExt4Superblock parses the superblock of the ext4 starting at offset.
func readExt4Superblock(r io.ReaderAt, offset int64) (*ext4Superblock, error) {
	b := make([]byte, 1024)
	if _, err := r.ReadAt(b, offset+ext4SuperblockOffset); err != nil {
		return nil, fmt.Errorf("reading ext4 superblock: %w", err)
	}
	le := binary.LittleEndian
	if le.Uint16(b[0x38:]) != ext4Magic {
		return nil, errors.New("no ext4 superblock (bad magic)")
	}
	sb := &ext4Superblock{
		InodesCount:    le.Uint32(b[0x00:]),
		BlocksCount:    uint64(le.Uint32(b[0x04:])),
		FreeBlocks:     uint64(le.Uint32(b[0x0c:])),
		FirstDataBlock: le.Uint32(b[0x14:]),
		BlockSize:      1024 << min(le.Uint32(b[0x18:]), ext4MaxLogBlock+1),
		BlocksPerGroup: le.Uint32(b[0x20:]),
		InodesPerGroup: le.Uint32(b[0x28:]),
		InodeSize:      int64(le.Uint16(b[0x58:])),
		Compat:         le.Uint32(b[0x5c:]),
		Incompat:       le.Uint32(b[0x60:]),
		RoCompat:       le.Uint32(b[0x64:]),
		Label:          trimNUL(b[0x78:0x88]),
		ChecksumSeed:   le.Uint32(b[0x270:]),
		DescSize:       32,
		FirstIno:       11, // revision 0's fixed value
	}
	if le.Uint32(b[0x4c:]) >= 1 { // dynamic revision: the field is there
		sb.FirstIno = le.Uint32(b[0x54:])
	}
	copy(sb.UUID[:], b[0x68:0x78])
	if sb.Incompat&ext4Incompat64Bit != 0 {
		sb.BlocksCount |= uint64(le.Uint32(b[0x150:])) << 32
		sb.FreeBlocks |= uint64(le.Uint32(b[0x158:])) << 32
		sb.DescSize = int64(le.Uint16(b[0xfe:]))
	}
	if err := sb.plausible(); err != nil {
		return nil, fmt.Errorf("implausible ext4 superblock: %w", err)
	}
	return sb, nil
}

// plausible checks what the kernel checks before it mounts (fs/ext4/super.c),
// so that what the readers allocate and compute from the superblock stays
// bounded by the block size.
func (sb *ext4Superblock) plausible() error {
	pow2 := func(n int64) bool { return n > 0 && n&(n-1) == 0 }
	minDesc := int64(32)
	if sb.Incompat&ext4Incompat64Bit != 0 {
		minDesc = 64
	}
	switch bits := 8 * uint64(sb.BlockSize); {
	case sb.BlockSize > 1024<<ext4MaxLogBlock:
		return errors.New("block size over 64 KiB")
	case sb.InodeSize < ext4GoodOldInode || sb.InodeSize > sb.BlockSize || !pow2(sb.InodeSize):
		return fmt.Errorf("%d-byte inodes in %d-byte blocks", sb.InodeSize, sb.BlockSize)
	case sb.DescSize < minDesc || sb.DescSize > ext4MaxDescSize || !pow2(sb.DescSize):
		return fmt.Errorf("%d-byte group descriptors", sb.DescSize)
	case sb.BlocksPerGroup == 0:
		return errors.New("no blocks per group")
	case sb.InodesPerGroup == 0 || uint64(sb.InodesPerGroup) > bits:
		// A group's inode bitmap is one block.
		return fmt.Errorf("%d inodes per group of %d-byte blocks", sb.InodesPerGroup, sb.BlockSize)
	case uint64(sb.FirstDataBlock) >= sb.BlocksCount:
		return fmt.Errorf("first data block %d of %d", sb.FirstDataBlock, sb.BlocksCount)
	}
	return nil
}

func trimNUL(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// inodeCsumSeed is the seed of every metadata checksum: either stored, or
// crc32c of the UUID.
func (sb *ext4Superblock) inodeCsumSeed() uint32 {
	if sb.Incompat&ext4IncompatCsumSeed != 0 {
		return sb.ChecksumSeed
	}
	return crc32cRaw(^uint32(0), sb.UUID[:])
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crc32cRaw is the kernel's crc32c_le: no pre- or post-inversion, which Go's
// crc32.Update applies, hence the double complement.
func crc32cRaw(seed uint32, p []byte) uint32 {
	return ^crc32.Update(^seed, castagnoli, p)
}

// Inode field offsets.
const (
	inoMode       = 0x00
	inoAtime      = 0x08
	inoCtime      = 0x0c
	inoMtime      = 0x10
	inoLinks      = 0x1a
	inoGeneration = 0x64
	inoCsumLo     = 0x7c
	inoExtraIsize = 0x80
	inoCsumHi     = 0x82
	inoCtimeExtra = 0x84
	inoMtimeExtra = 0x88
	inoAtimeExtra = 0x8c
	inoCrtime     = 0x90
	inoCrtimeExtr = 0x94
)

// inodeChecksum computes an inode's metadata_csum over the inode number,
// its generation and its bytes with both checksum fields read as zero.
func inodeChecksum(seed uint32, ino uint32, raw []byte) uint32 {
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], ino)
	crc := crc32cRaw(seed, n[:])
	crc = crc32cRaw(crc, raw[inoGeneration:inoGeneration+4])
	tmp := append([]byte(nil), raw...)
	tmp[inoCsumLo], tmp[inoCsumLo+1] = 0, 0
	if hasCsumHi(raw) {
		tmp[inoCsumHi], tmp[inoCsumHi+1] = 0, 0
	}
	return crc32cRaw(crc, tmp)
}

// hasCsumHi reports whether the inode's extra space reaches i_checksum_hi.
func hasCsumHi(raw []byte) bool {
	return len(raw) > ext4GoodOldInode &&
		ext4GoodOldInode+int(binary.LittleEndian.Uint16(raw[inoExtraIsize:])) >= inoCsumHi+2
}

func storedInodeChecksum(raw []byte) uint32 {
	c := uint32(binary.LittleEndian.Uint16(raw[inoCsumLo:]))
	if hasCsumHi(raw) {
		c |= uint32(binary.LittleEndian.Uint16(raw[inoCsumHi:])) << 16
	}
	return c
}

func setInodeChecksum(raw []byte, c uint32) {
	binary.LittleEndian.PutUint16(raw[inoCsumLo:], uint16(c))
	if hasCsumHi(raw) {
		binary.LittleEndian.PutUint16(raw[inoCsumHi:], uint16(c>>16))
	}
}

// normalizeExt4 rewrites, in the ext4 at offset inside f, every in-use
// inode's times: atime, ctime and crtime become epoch and mtime is clamped
// to it (the SOURCE_DATE_EPOCH convention). mke2fs -d copies atime and ctime
// from the tree, which no caller controls (reading the tree even moves
// atime), so without this two builds of the same tree differ. It also gives
// the root directory the tree root's permission bits, which mke2fs leaves at
// 0755. Each inode's checksum is verified before and recomputed after, so a
// misread layout fails loudly instead of corrupting the filesystem.
func normalizeExt4(f *os.File, offset int64, epoch time.Time, rootPerm os.FileMode) error {
	sb, err := readExt4Superblock(f, offset)
	if err != nil {
		return err
	}
	csum := sb.RoCompat&ext4RoCompatCsum != 0
	seed := sb.inodeCsumSeed()
	le := binary.LittleEndian
	return eachInodeRun(f, offset, sb, func(run inodeRun) error {
		for i := range run.count(sb) {
			raw, ino, inUse := run.inode(sb, i)
			if !inUse || le.Uint16(raw[inoMode:]) == 0 && le.Uint16(raw[inoLinks:]) == 0 {
				continue // free, or a reserved inode mke2fs left blank
			}
			if csum && inodeChecksum(seed, ino, raw) != storedInodeChecksum(raw) {
				return fmt.Errorf("inode %d: checksum mismatch before rewrite; refusing to touch the filesystem", ino)
			}
			setInodeTimes(raw, epoch)
			if ino == ext4RootInode {
				mode := le.Uint16(raw[inoMode:])
				le.PutUint16(raw[inoMode:], mode&^0o7777|uint16(rootPerm.Perm())|modeSpecialBits(rootPerm))
			}
			if csum {
				setInodeChecksum(raw, inodeChecksum(seed, ino, raw))
			}
		}
		if _, err := f.WriteAt(run.table, run.off); err != nil {
			return fmt.Errorf("writing inode table of group %d: %w", run.group.index, err)
		}
		return nil
	})
}

// modeSpecialBits turns Go's setuid/setgid/sticky flags into Unix bits.
func modeSpecialBits(m os.FileMode) uint16 {
	var b uint16
	if m&os.ModeSetuid != 0 {
		b |= 0o4000
	}
	if m&os.ModeSetgid != 0 {
		b |= 0o2000
	}
	if m&os.ModeSticky != 0 {
		b |= 0o1000
	}
	return b
}

// setInodeTimes applies the epoch policy to one raw inode. ext4 stores
// seconds as a signed 32-bit value plus, in the extra space, two epoch bits
// (seconds >> 32) and nanoseconds.
func setInodeTimes(raw []byte, epoch time.Time) {
	le := binary.LittleEndian
	extra := 0
	if len(raw) > ext4GoodOldInode {
		extra = int(le.Uint16(raw[inoExtraIsize:]))
	}
	has := func(off int) bool { return off+4 <= ext4GoodOldInode+extra }

	sec := epoch.Unix()
	lo, hi := uint32(sec), uint32((sec-int64(int32(uint32(sec))))>>32)&3

	mtime := int64(int32(le.Uint32(raw[inoMtime:])))
	if has(inoMtimeExtra) {
		mtime += int64(le.Uint32(raw[inoMtimeExtra:])&3) << 32
	}
	if mtime > sec {
		le.PutUint32(raw[inoMtime:], lo)
		if has(inoMtimeExtra) {
			le.PutUint32(raw[inoMtimeExtra:], hi)
		}
	}
	for _, f := range []struct{ base, ext int }{
		{inoAtime, inoAtimeExtra},
		{inoCtime, inoCtimeExtra},
		{inoCrtime, inoCrtimeExtr},
	} {
		if f.base >= ext4GoodOldInode && !has(f.base) {
			continue
		}
		le.PutUint32(raw[f.base:], lo)
		if has(f.ext) {
			le.PutUint32(raw[f.ext:], hi)
		}
	}
}
