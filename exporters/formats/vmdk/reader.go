package vmdk

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"regexp"
)

// Image reads the virtual disk of a sparse VMDK extent with its embedded
// descriptor: stream-optimized (compressed grains, grain directory in the
// footer) or hosted sparse (monolithicSparse).
type Image struct {
	r          io.ReaderAt
	fileSize   int64
	h          *header
	descriptor string
	gd         []uint32
	grainBytes int64

	gtIndex int // the cached grain table's number, -1 for none
	gt      []uint32
	cbuf    []byte
}

// Open reads the header (and footer, when the grain directory is at the
// end), descriptor and grain directory of the extent in r. Every offset is
// checked against the file.
func Open(r io.ReaderAt, fileSize int64) (*Image, error) {
	img, err := open(r, fileSize)
	if err != nil {
		return nil, fmt.Errorf("vmdk: %w", err)
	}
	return img, nil
}

func open(r io.ReaderAt, fileSize int64) (*Image, error) {
	b := make([]byte, sectorSize)
	if _, err := r.ReadAt(b, 0); err != nil {
		return nil, fmt.Errorf("reading header: %w", err)
	}
	h, err := parseHeader(b)
	if err != nil {
		return nil, err
	}
	if h.GDOffset == gdAtEnd {
		// footer marker, footer, end-of-stream marker: the last three
		// sectors.
		if fileSize < 4*sectorSize {
			return nil, errors.New("file too short for a footer")
		}
		tail := make([]byte, 3*sectorSize)
		if _, err := r.ReadAt(tail, fileSize-3*sectorSize); err != nil {
			return nil, fmt.Errorf("reading footer: %w", err)
		}
		if binary.LittleEndian.Uint32(tail[12:]) != markerFooter {
			return nil, errors.New("no footer marker before the end-of-stream marker")
		}
		footer, err := parseHeader(tail[sectorSize:])
		if err != nil {
			return nil, fmt.Errorf("footer: %w", err)
		}
		if footer.Capacity != h.Capacity || footer.GrainSize != h.GrainSize || footer.NumGTEsPerGT != h.NumGTEsPerGT {
			return nil, errors.New("footer disagrees with the header")
		}
		h = footer
	}
	img := &Image{r: r, fileSize: fileSize, h: h, grainBytes: int64(h.GrainSize) * sectorSize, gtIndex: -1}

	if h.DescriptorOffset != 0 {
		if h.DescriptorSize > 2048 || !img.within(h.DescriptorOffset, h.DescriptorSize*sectorSize) {
			return nil, errors.New("descriptor lies beyond the file")
		}
		d := make([]byte, h.DescriptorSize*sectorSize)
		if _, err := r.ReadAt(d, int64(h.DescriptorOffset)*sectorSize); err != nil {
			return nil, fmt.Errorf("reading descriptor: %w", err)
		}
		if i := bytes.IndexByte(d, 0); i >= 0 {
			d = d[:i]
		}
		img.descriptor = string(d)
	}

	grains := (h.Capacity + h.GrainSize - 1) / h.GrainSize
	tables := (grains + uint64(h.NumGTEsPerGT) - 1) / uint64(h.NumGTEsPerGT)
	if !img.within(h.GDOffset, tables*4) {
		return nil, errors.New("grain directory lies beyond the file")
	}
	gd := make([]byte, tables*4)
	if _, err := r.ReadAt(gd, int64(h.GDOffset)*sectorSize); err != nil {
		return nil, fmt.Errorf("reading grain directory: %w", err)
	}
	img.gd = make([]uint32, tables)
	for i := range img.gd {
		img.gd[i] = binary.LittleEndian.Uint32(gd[4*i:])
	}
	return img, nil
}

// within says whether n bytes at sector sec lie inside the file.
func (img *Image) within(sec, n uint64) bool {
	if sec > uint64(img.fileSize)/sectorSize {
		return false
	}
	off := sec * sectorSize
	return n <= uint64(img.fileSize)-off
}

// Size is the virtual disk's size in bytes.
func (img *Image) Size() int64 { return int64(img.h.Capacity) * sectorSize }

// Descriptor is the embedded descriptor text.
func (img *Image) Descriptor() string { return img.descriptor }

var createTypeRE = regexp.MustCompile(`(?m)^createType\s*=\s*"?([A-Za-z0-9]+)"?`)

// CreateType is the descriptor's createType, e.g. "streamOptimized".
func (img *Image) CreateType() string {
	m := createTypeRE.FindStringSubmatch(img.descriptor)
	if m == nil {
		return ""
	}
	return m[1]
}

// ReadAt reads the virtual disk. Grains that are not allocated read as
// zeros (there is no parent disk).
func (img *Image) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("vmdk: negative offset")
	}
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		if pos >= img.Size() {
			return n, io.EOF
		}
		g, in := pos/img.grainBytes, pos%img.grainBytes
		chunk := p[n:min(len(p), n+int(img.grainBytes-in), n+int(img.Size()-pos))]
		if err := img.readGrain(g, in, chunk); err != nil {
			return n, fmt.Errorf("vmdk: offset %#x: %w", pos, err)
		}
		n += len(chunk)
	}
	return n, nil
}

func (img *Image) readGrain(g, in int64, dst []byte) error {
	per := int64(img.h.NumGTEsPerGT)
	t := int(g / per)
	if img.gd[t] == 0 {
		clear(dst)
		return nil
	}
	if t != img.gtIndex {
		if !img.within(uint64(img.gd[t]), uint64(per)*4) {
			return fmt.Errorf("grain table %d lies beyond the file", t)
		}
		raw := make([]byte, per*4)
		if _, err := img.r.ReadAt(raw, int64(img.gd[t])*sectorSize); err != nil {
			return err
		}
		img.gt = make([]uint32, per)
		for i := range img.gt {
			img.gt[i] = binary.LittleEndian.Uint32(raw[4*i:])
		}
		img.gtIndex = t
	}
	sec := uint64(img.gt[g%per])
	if sec <= 1 { // unallocated, or a zeroed grain
		clear(dst)
		return nil
	}
	if img.h.Flags&flagCompressed == 0 {
		if !img.within(sec, uint64(img.grainBytes)) {
			return fmt.Errorf("grain %d lies beyond the file", g)
		}
		_, err := img.r.ReadAt(dst, int64(sec)*sectorSize+in)
		return err
	}
	data, err := img.inflateGrain(g, sec)
	if err != nil {
		return err
	}
	copy(dst, data[in:])
	return nil
}

// inflateGrain reads a compressed grain: a marker with its LBA and size,
// then a zlib stream.
func (img *Image) inflateGrain(g int64, sec uint64) ([]byte, error) {
	var m [12]byte
	if !img.within(sec, 12) {
		return nil, fmt.Errorf("grain %d lies beyond the file", g)
	}
	if _, err := img.r.ReadAt(m[:], int64(sec)*sectorSize); err != nil {
		return nil, err
	}
	lba := binary.LittleEndian.Uint64(m[:])
	size := uint64(binary.LittleEndian.Uint32(m[8:]))
	if lba != uint64(g)*img.h.GrainSize {
		return nil, fmt.Errorf("grain %d: marker says LBA %d", g, lba)
	}
	if size > uint64(2*img.grainBytes) || !img.within(sec, 12+size) {
		return nil, fmt.Errorf("grain %d: compressed size %d out of bounds", g, size)
	}
	if cap(img.cbuf) < int(size) {
		img.cbuf = make([]byte, size)
	}
	buf := img.cbuf[:size]
	if _, err := img.r.ReadAt(buf, int64(sec)*sectorSize+12); err != nil {
		return nil, err
	}
	zr, err := zlib.NewReader(bytes.NewReader(buf))
	if err != nil {
		return nil, fmt.Errorf("grain %d: %w", g, err)
	}
	out := make([]byte, img.grainBytes)
	n, err := io.ReadFull(zr, out)
	// Some writers store a partial last grain only up to the capacity.
	if errors.Is(err, io.ErrUnexpectedEOF) && int64(n) >= img.Size()-g*img.grainBytes {
		err = nil
	}
	if err != nil {
		return nil, fmt.Errorf("grain %d: %w", g, err)
	}
	return out, nil
}
