package qcow2

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Image reads the virtual disk of a qcow2 image (version 2 or 3, without
// backing file, encryption or snapshots to apply).
type Image struct {
	r        io.ReaderAt
	fileSize int64
	h        *header
	cs       int64 // cluster size
	l1       []uint64

	// One L2 table is cached: reads are mostly sequential.
	l2Index int64
	l2      []uint64
	// Scratch for compressed clusters.
	cbuf, cluster []byte
}

// Open reads the header and L1 table of the qcow2 image in r, which is
// fileSize bytes long. It checks every table offset against the file, so a
// corrupt image gives an error rather than a wild read or allocation.
func Open(r io.ReaderAt, fileSize int64) (*Image, error) {
	hb := make([]byte, 512)
	n, err := r.ReadAt(hb, 0)
	if n < v2HeaderLength {
		if err == nil || errors.Is(err, io.EOF) {
			err = errors.New("file too short for a qcow2 header")
		}
		return nil, fmt.Errorf("qcow2: %w", err)
	}
	h, err := parseHeader(hb[:n], fileSize)
	if err != nil {
		return nil, fmt.Errorf("qcow2: %w", err)
	}
	img := &Image{r: r, fileSize: fileSize, h: h, cs: 1 << h.ClusterBits, l2Index: -1}
	img.l1, err = img.readTable(int64(h.L1TableOffset), int(h.L1Size))
	if err != nil {
		return nil, fmt.Errorf("qcow2: reading L1 table: %w", err)
	}
	return img, nil
}

// Size is the virtual disk's size in bytes.
func (img *Image) Size() int64 { return int64(img.h.Size) }

// Version is the qcow2 version, 2 or 3.
func (img *Image) Version() int { return int(img.h.Version) }

// ClusterSize is the image's cluster size in bytes.
func (img *Image) ClusterSize() int64 { return img.cs }

func (img *Image) readTable(off int64, entries int) ([]uint64, error) {
	b := make([]byte, entries*8)
	if _, err := img.r.ReadAt(b, off); err != nil {
		return nil, err
	}
	t := make([]uint64, entries)
	for i := range t {
		t[i] = binary.BigEndian.Uint64(b[8*i:])
	}
	return t, nil
}

// l2Entry returns the L2 entry for guest cluster idx (0: unallocated).
func (img *Image) l2Entry(idx int64) (uint64, error) {
	perTable := img.cs / 8
	t := idx / perTable
	if t >= int64(len(img.l1)) {
		return 0, nil
	}
	if t != img.l2Index {
		off := img.l1[t] & offsetMask
		if off == 0 {
			return 0, nil
		}
		if err := inFile("L2 table", off, uint64(img.cs), uint64(img.cs), img.fileSize); err != nil {
			return 0, err
		}
		l2, err := img.readTable(int64(off), int(perTable))
		if err != nil {
			return 0, fmt.Errorf("reading L2 table: %w", err)
		}
		img.l2, img.l2Index = l2, t
	}
	return img.l2[idx%perTable], nil
}

// ReadAt reads the virtual disk. Unallocated clusters read as zeros.
func (img *Image) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("qcow2: negative offset")
	}
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		if pos >= img.Size() {
			return n, io.EOF
		}
		idx, in := pos/img.cs, pos%img.cs
		chunk := p[n:min(len(p), n+int(img.cs-in), n+int(img.Size()-pos))]
		if err := img.readCluster(idx, in, chunk); err != nil {
			return n, fmt.Errorf("qcow2: guest offset %#x: %w", pos, err)
		}
		n += len(chunk)
	}
	return n, nil
}

func (img *Image) readCluster(idx, in int64, dst []byte) error {
	e, err := img.l2Entry(idx)
	if err != nil {
		return err
	}
	if e&flagCompressed != 0 {
		data, err := img.decompress(e)
		if err != nil {
			return err
		}
		copy(dst, data[in:])
		return nil
	}
	host := e & offsetMask
	if host == 0 || (img.h.Version >= 3 && e&flagZero != 0) {
		clear(dst)
		return nil
	}
	if host%uint64(img.cs) != 0 {
		return fmt.Errorf("data cluster at %#x not aligned", host)
	}
	if err := inFile("data cluster", host, uint64(img.cs), uint64(img.cs), img.fileSize); err != nil {
		return err
	}
	_, err = img.r.ReadAt(dst, int64(host)+in)
	return err
}

// compressedRange decodes a compressed cluster descriptor into the byte
// range it may occupy: from its offset to the end of its last sector.
func (img *Image) compressedRange(e uint64) (off, length int64) {
	x := 62 - (img.h.ClusterBits - 8)
	off = int64(e & (1<<x - 1))
	sectors := int64((e>>x)&(1<<(img.h.ClusterBits-8)-1)) + 1
	return off, sectors*512 - off%512
}

func (img *Image) decompress(e uint64) ([]byte, error) {
	off, length := img.compressedRange(e)
	if off >= img.fileSize {
		return nil, fmt.Errorf("compressed cluster at %#x lies beyond the end of the file", off)
	}
	length = min(length, img.fileSize-off) // the last sector may be short
	img.cbuf = growTo(img.cbuf, int(length))
	if _, err := img.r.ReadAt(img.cbuf, off); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	img.cluster = growTo(img.cluster, int(img.cs))
	zr := flate.NewReader(bytes.NewReader(img.cbuf))
	defer zr.Close()
	if _, err := io.ReadFull(zr, img.cluster); err != nil {
		return nil, fmt.Errorf("compressed cluster at %#x: %w", off, err)
	}
	return img.cluster, nil
}

func growTo(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}
