package vmdk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/adler32"
	"io"

	"github.com/strata-dev/strata/exporters/formats/reuse"
)

// reuseFormat describes stream-optimized extents to package reuse.
var reuseFormat = reuse.Format{BlockSize: grainBytes, Index: indexStream, Pad: sectorSize, Verify: sameAdler}

// sameAdler checks a grain record (marker, zlib stream) against the grain's
// raw bytes through the Adler-32 that ends the zlib stream. Each grain
// carries it, so copying from a reuse image of another disk is caught grain
// by grain, for about 2% of what compressing the grain costs.
func sameAdler(record, grain []byte) bool {
	if len(record) < 12+6 {
		return false
	}
	return binary.BigEndian.Uint32(record[len(record)-4:]) == adler32.Checksum(grain)
}

// indexStream finds the grain record (marker and zlib stream, whose exact
// size the marker gives) of every allocated grain of a stream-optimized
// extent this package wrote. Anything this writer would not have written
// makes it refuse the image, as does one for another size than diskSize.
func indexStream(r io.ReaderAt, fileSize, diskSize int64) (map[int64]reuse.Chunk, error) {
	img, err := Open(r, fileSize)
	if err != nil {
		return nil, err
	}
	if err := img.writtenHere(Capacity(diskSize)); err != nil {
		return nil, err
	}
	chunks := map[int64]reuse.Chunk{}
	for t, sec := range img.gd {
		if sec == 0 {
			continue
		}
		gt, err := img.readGT(t, sec)
		if err != nil {
			return nil, err
		}
		for i, gsec := range gt {
			if gsec == 0 {
				continue
			}
			g := int64(t)*gtEntries + int64(i)
			c, err := img.grainRecord(g, gsec)
			if err != nil {
				return nil, err
			}
			chunks[g] = c
		}
	}
	return chunks, nil
}

// writtenHere checks that the extent has the header (here the footer) and
// descriptor type Write writes, for a disk of capacity bytes.
func (img *Image) writtenHere(capacity int64) error {
	h := img.h
	switch {
	case h.Version != streamVersion || h.Flags != flagValidNewline|flagCompressed|flagMarkers || img.CreateType() != "streamOptimized":
		return fmt.Errorf("version %d, flags %#x, create type %q: not a stream-optimized extent strata wrote", h.Version, h.Flags, img.CreateType())
	case h.GrainSize != grainSectors || h.NumGTEsPerGT != gtEntries:
		return fmt.Errorf("grains of %d sectors in tables of %d, want %d in %d", h.GrainSize, h.NumGTEsPerGT, grainSectors, gtEntries)
	case int64(h.Capacity)*sectorSize != capacity:
		return fmt.Errorf("capacity %d bytes, the source's is %d", h.Capacity*sectorSize, capacity)
	}
	return nil
}

// readGT reads grain table t at sector sec.
func (img *Image) readGT(t int, sec uint32) ([]uint32, error) {
	if !img.within(uint64(sec), gtEntries*4) {
		return nil, fmt.Errorf("grain table %d lies beyond the file", t)
	}
	raw := make([]byte, gtEntries*4)
	if _, err := img.r.ReadAt(raw, int64(sec)*sectorSize); err != nil {
		return nil, fmt.Errorf("reading grain table %d: %w", t, err)
	}
	gt := make([]uint32, gtEntries)
	for i := range gt {
		gt[i] = binary.LittleEndian.Uint32(raw[4*i:])
	}
	return gt, nil
}

// grainRecord reads grain g's marker at sector sec: it must name the grain
// and give a size that fits the file.
func (img *Image) grainRecord(g int64, sec uint32) (reuse.Chunk, error) {
	if sec == 1 {
		return reuse.Chunk{}, errors.New("zeroed-grain entries: not written by strata")
	}
	var m [12]byte
	if !img.within(uint64(sec), 12) {
		return reuse.Chunk{}, fmt.Errorf("grain %d lies beyond the file", g)
	}
	if _, err := img.r.ReadAt(m[:], int64(sec)*sectorSize); err != nil {
		return reuse.Chunk{}, fmt.Errorf("grain %d: %w", g, err)
	}
	lba, size := binary.LittleEndian.Uint64(m[:]), uint64(binary.LittleEndian.Uint32(m[8:]))
	if lba != uint64(g)*grainSectors {
		return reuse.Chunk{}, fmt.Errorf("grain %d: marker says LBA %d", g, lba)
	}
	if size == 0 || size > 2*grainBytes || !img.within(uint64(sec), 12+size) {
		return reuse.Chunk{}, fmt.Errorf("grain %d: compressed size %d out of bounds", g, size)
	}
	return reuse.Chunk{Off: int64(sec) * sectorSize, Len: 12 + int(size)}, nil
}
