package disk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// fat32Geometry is what finalizeFAT32 and Inspect need from a FAT32 boot
// sector.
type fat32Geometry struct {
	BytesPerSector    int64
	SectorsPerCluster int64
	ReservedSectors   int64
	FATCount          int64
	SectorsPerFAT     int64
	RootCluster       uint32
	BackupBootSector  int64
	TotalSectors      int64
	VolumeID          uint32
	Label             string
}

func (g fat32Geometry) clusterBytes() int64 { return g.BytesPerSector * g.SectorsPerCluster }
func (g fat32Geometry) dataStart() int64 {
	return (g.ReservedSectors + g.FATCount*g.SectorsPerFAT) * g.BytesPerSector
}
func (g fat32Geometry) clusterOffset(c uint32) int64 {
	return g.dataStart() + int64(c-2)*g.clusterBytes()
}

// Byte offsets inside a FAT32 boot sector (Microsoft FAT spec, "BPB").
const (
	bsVolID  = 67
	bsVolLab = 71
	bsFSType = 82
)

func parseFAT32BootSector(b []byte) (fat32Geometry, error) {
	if len(b) < 512 || b[510] != 0x55 || b[511] != 0xaa {
		return fat32Geometry{}, errors.New("no boot sector signature")
	}
	if string(b[bsFSType:bsFSType+8]) != "FAT32   " {
		return fat32Geometry{}, fmt.Errorf("not FAT32 (type field %q)", b[bsFSType:bsFSType+8])
	}
	g := fat32Geometry{
		BytesPerSector:    int64(binary.LittleEndian.Uint16(b[11:])),
		SectorsPerCluster: int64(b[13]),
		ReservedSectors:   int64(binary.LittleEndian.Uint16(b[14:])),
		FATCount:          int64(b[16]),
		SectorsPerFAT:     int64(binary.LittleEndian.Uint32(b[36:])),
		RootCluster:       binary.LittleEndian.Uint32(b[44:]),
		BackupBootSector:  int64(binary.LittleEndian.Uint16(b[50:])),
		TotalSectors:      int64(binary.LittleEndian.Uint32(b[32:])),
		VolumeID:          binary.LittleEndian.Uint32(b[bsVolID:]),
		Label:             trimFATName(b[bsVolLab : bsVolLab+11]),
	}
	if g.BytesPerSector == 0 || g.SectorsPerCluster == 0 || g.SectorsPerFAT == 0 || g.RootCluster < 2 {
		return g, errors.New("implausible FAT32 geometry")
	}
	return g, nil
}

// checkFATFits refuses an ESP whose boot sector puts its FATs past the
// partition's end. go-diskfs allocates and compares both FATs, up to 4 GiB
// each, as the boot sector sizes them, before it reads anything else.
func checkFATFits(r io.ReaderAt, esp PartitionReport) error {
	boot := make([]byte, 512)
	if _, err := r.ReadAt(boot, esp.Start); err != nil {
		return fmt.Errorf("reading the boot sector: %w", err)
	}
	g, err := parseFAT32BootSector(boot)
	if err != nil {
		return err
	}
	if end := g.dataStart(); end > esp.End-esp.Start {
		return fmt.Errorf("the FATs end at byte %d of a %d-byte partition", end, esp.End-esp.Start)
	}
	return nil
}

func trimFATName(b []byte) string {
	end := len(b)
	for end > 0 && (b[end-1] == ' ' || b[end-1] == 0) {
		end--
	}
	return string(b[:end])
}

// finalizeFAT32 makes a go-diskfs FAT32 image reproducible and clean for
// fsck.fat and mtools. It works on the raw bytes because go-diskfs offers
// no way to do any of this:
//
//   - The volume ID. go-diskfs only knows "clock-derived" or zero, and
//     stores it big-endian where the spec (and mkfs.fat, blkid) use
//     little-endian, so it is written here, in both boot sector copies.
//   - The cluster count. go-diskfs sizes the FAT without counting its two
//     reserved entries, so for some sizes (64 MiB, for one) the volume has
//     two clusters more than the FAT can describe; fsck.fat and mtools
//     reject that. go-diskfs never allocates past the FAT's capacity, so
//     shrinking the volume's sector count to match is lossless.
//   - ".." entries of the root's subdirectories. The spec (and fsck.fat)
//     want cluster 0 there, meaning "the root"; go-diskfs writes the root's
//     actual cluster.
//   - The FSInfo free-cluster count and next-free hint, which go-diskfs
//     leaves "unknown"; fsck.fat flags that and Linux then counts free
//     space at mount time.
//   - Timestamps. go-diskfs stamps entries with SOURCE_DATE_EPOCH or the
//     clock; the "." and ".." entries it creates are out of reach of
//     Chtimes, and setting the environment variable from a library would
//     leak into the whole process. Every 8.3 entry is walked and set to t.
func finalizeFAT32(f *os.File, volumeID uint32, t time.Time) error {
	boot := make([]byte, 512)
	if _, err := f.ReadAt(boot, 0); err != nil {
		return fmt.Errorf("reading boot sector: %w", err)
	}
	g, err := parseFAT32BootSector(boot)
	if err != nil {
		return err
	}
	binary.LittleEndian.PutUint32(boot[bsVolID:], volumeID)
	entries := g.SectorsPerFAT * g.BytesPerSector / 4
	if clusters := (g.TotalSectors - g.dataStart()/g.BytesPerSector) / g.SectorsPerCluster; clusters > entries-2 {
		total := g.dataStart()/g.BytesPerSector + (entries-2)*g.SectorsPerCluster
		binary.LittleEndian.PutUint32(boot[32:], uint32(total))
	}
	for _, sector := range []int64{0, g.BackupBootSector} { // backup 0 means none: sector 0 twice is harmless
		if _, err := f.WriteAt(boot, sector*g.BytesPerSector); err != nil {
			return fmt.Errorf("writing boot sector: %w", err)
		}
	}

	fat := make([]byte, g.SectorsPerFAT*g.BytesPerSector)
	if _, err := f.ReadAt(fat, g.ReservedSectors*g.BytesPerSector); err != nil {
		return fmt.Errorf("reading FAT: %w", err)
	}
	if err := writeFSInfo(f, g, fat, boot); err != nil {
		return err
	}
	date, clock := fatDateTime(t)
	return walkFATDir(f, g, fat, g.RootCluster, 0, func(e []byte) {
		e[13] = 0 // creation time, 10 ms units
		binary.LittleEndian.PutUint16(e[14:], clock)
		binary.LittleEndian.PutUint16(e[16:], date)
		binary.LittleEndian.PutUint16(e[18:], date) // last access: date only
		binary.LittleEndian.PutUint16(e[22:], clock)
		binary.LittleEndian.PutUint16(e[24:], date)
	})
}

// fatDateTime encodes t (as UTC) in FAT's date and 2-second time fields,
// clamped to the 1980–2107 range FAT can express.
func fatDateTime(t time.Time) (date, clock uint16) {
	t = t.UTC()
	switch {
	case t.Year() < 1980:
		t = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	case t.Year() > 2107:
		t = time.Date(2107, 12, 31, 23, 59, 58, 0, time.UTC)
	}
	date = uint16((t.Year()-1980)<<9 | int(t.Month())<<5 | t.Day())
	clock = uint16(t.Hour()<<11 | t.Minute()<<5 | t.Second()/2)
	return date, clock
}

// clusterChain follows the FAT from start to its end-of-chain marker.
func clusterChain(fat []byte, start uint32) ([]uint32, error) {
	var chain []uint32
	limit := len(fat) / 4
	for c := start; c >= 2 && c < 0x0ffffff8; c = binary.LittleEndian.Uint32(fat[4*c:]) & 0x0fffffff {
		if int(c) >= limit || len(chain) > limit {
			return nil, fmt.Errorf("corrupt cluster chain from %d", start)
		}
		chain = append(chain, c)
	}
	return chain, nil
}

// writeFSInfo fills in the FSInfo sector (and its backup) from the FAT.
func writeFSInfo(f *os.File, g fat32Geometry, fat, boot []byte) error {
	total := int64(binary.LittleEndian.Uint32(boot[32:]))
	clusters := (total - g.dataStart()/g.BytesPerSector) / g.SectorsPerCluster
	free, next := uint32(0), uint32(0xffffffff)
	for c := int64(2); c < clusters+2; c++ {
		if binary.LittleEndian.Uint32(fat[4*c:])&0x0fffffff == 0 {
			free++
			if next == 0xffffffff {
				next = uint32(c)
			}
		}
	}
	fsinfo := int64(binary.LittleEndian.Uint16(boot[48:]))
	sec := make([]byte, 512)
	if _, err := f.ReadAt(sec, fsinfo*g.BytesPerSector); err != nil {
		return fmt.Errorf("reading FSInfo: %w", err)
	}
	if binary.LittleEndian.Uint32(sec[0:]) != 0x41615252 || binary.LittleEndian.Uint32(sec[484:]) != 0x61417272 {
		return errors.New("FSInfo sector has no signature")
	}
	binary.LittleEndian.PutUint32(sec[488:], free)
	binary.LittleEndian.PutUint32(sec[492:], next)
	for _, s := range []int64{fsinfo, g.BackupBootSector + fsinfo} {
		if _, err := f.WriteAt(sec, s*g.BytesPerSector); err != nil {
			return fmt.Errorf("writing FSInfo: %w", err)
		}
	}
	return nil
}

// walkFATDir calls fn on every short (8.3) entry of the directory at
// cluster and, recursively, of its subdirectories, and writes the directory
// back. Long-name slots carry no timestamps and are left alone.
func walkFATDir(f *os.File, g fat32Geometry, fat []byte, cluster uint32, depth int, fn func(entry []byte)) error {
	if depth > 64 {
		return errors.New("directory tree too deep (loop?)")
	}
	chain, err := clusterChain(fat, cluster)
	if err != nil {
		return err
	}
	cb := g.clusterBytes()
	buf := make([]byte, int64(len(chain))*cb)
	for i, c := range chain {
		if _, err := f.ReadAt(buf[int64(i)*cb:int64(i+1)*cb], g.clusterOffset(c)); err != nil {
			return fmt.Errorf("reading directory cluster %d: %w", c, err)
		}
	}
	var subdirs []uint32
	for off := 0; off+32 <= len(buf); off += 32 {
		e := buf[off : off+32]
		if e[0] == 0x00 {
			break // end of directory
		}
		if e[0] == 0xe5 || e[11] == 0x0f {
			continue // deleted entry or long-name slot
		}
		fn(e)
		isDotDot := e[0] == '.' && e[1] == '.' && e[2] == ' '
		if isDotDot && depth == 1 {
			// This directory's parent is the root: cluster 0 by the spec.
			e[20], e[21], e[26], e[27] = 0, 0, 0, 0
		}
		isDot := isDotDot || e[0] == '.' && e[1] == ' '
		if e[11]&0x10 != 0 && !isDot {
			subdirs = append(subdirs, uint32(binary.LittleEndian.Uint16(e[20:]))<<16|uint32(binary.LittleEndian.Uint16(e[26:])))
		}
	}
	for i, c := range chain {
		if _, err := f.WriteAt(buf[int64(i)*cb:int64(i+1)*cb], g.clusterOffset(c)); err != nil {
			return fmt.Errorf("writing directory cluster %d: %w", c, err)
		}
	}
	for _, c := range subdirs {
		if err := walkFATDir(f, g, fat, c, depth+1, fn); err != nil {
			return err
		}
	}
	return nil
}
