package vhd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Image reads the virtual disk of a fixed or dynamic VHD.
type Image struct {
	r        io.ReaderAt
	fileSize int64
	footer   Footer
	// Dynamic disks only.
	blockSize int64
	bitmap    int64 // bytes of sector bitmap before each block's data
	bat       []uint32
}

// Open reads the footer (and for a dynamic disk, its header and block
// allocation table) of the VHD in r, fileSize bytes long. Every offset is
// checked against the file before use.
func Open(r io.ReaderAt, fileSize int64) (*Image, error) {
	if fileSize < footerSize {
		return nil, errors.New("vhd: file too short for a footer")
	}
	b := make([]byte, footerSize)
	if _, err := r.ReadAt(b, fileSize-footerSize); err != nil {
		return nil, fmt.Errorf("vhd: reading footer: %w", err)
	}
	f, err := ParseFooter(b)
	if err != nil {
		return nil, err
	}
	img := &Image{r: r, fileSize: fileSize, footer: f}
	if f.CurrentSize > MaxSize || f.CurrentSize%sectorSize != 0 {
		return nil, fmt.Errorf("vhd: bad disk size %d", f.CurrentSize)
	}
	switch f.DiskType {
	case TypeFixed:
		if f.CurrentSize > uint64(fileSize-footerSize) {
			return nil, fmt.Errorf("vhd: fixed disk of %d bytes in a %d-byte file", f.CurrentSize, fileSize)
		}
	case TypeDynamic:
		if err := img.openDynamic(); err != nil {
			return nil, fmt.Errorf("vhd: %w", err)
		}
	default:
		return nil, fmt.Errorf("vhd: unsupported disk type %d", f.DiskType)
	}
	return img, nil
}

func (img *Image) openDynamic() error {
	off := img.footer.DataOffset
	if off > uint64(img.fileSize) || uint64(img.fileSize)-off < dynHeaderSize {
		return fmt.Errorf("dynamic header offset %#x beyond the file", off)
	}
	h := make([]byte, dynHeaderSize)
	if _, err := img.r.ReadAt(h, int64(off)); err != nil {
		return fmt.Errorf("reading dynamic header: %w", err)
	}
	if string(h[:8]) != "cxsparse" {
		return fmt.Errorf("bad dynamic header cookie %q", h[:8])
	}
	be := binary.BigEndian
	if sum := checksum(h, 36); sum != be.Uint32(h[36:]) {
		return fmt.Errorf("dynamic header checksum %#08x, computed %#08x", be.Uint32(h[36:]), sum)
	}
	batOff := be.Uint64(h[16:])
	entries := uint64(be.Uint32(h[28:]))
	bs := uint64(be.Uint32(h[32:]))
	if bs < sectorSize || bs&(bs-1) != 0 || bs > 256*mib {
		return fmt.Errorf("bad block size %d", bs)
	}
	if entries*bs < img.footer.CurrentSize {
		return fmt.Errorf("%d blocks of %d bytes cannot hold %d bytes", entries, bs, img.footer.CurrentSize)
	}
	if batOff > uint64(img.fileSize) || entries*4 > uint64(img.fileSize)-batOff {
		return fmt.Errorf("block allocation table (%d entries at %#x) beyond the file", entries, batOff)
	}
	raw := make([]byte, entries*4)
	if _, err := img.r.ReadAt(raw, int64(batOff)); err != nil {
		return fmt.Errorf("reading block allocation table: %w", err)
	}
	img.bat = make([]uint32, entries)
	for i := range img.bat {
		img.bat[i] = be.Uint32(raw[4*i:])
	}
	img.blockSize = int64(bs)
	// One bit per sector, rounded up to whole bytes, then to whole
	// sectors: a block of fewer than eight sectors still has a bitmap.
	bitmapBytes := (int64(bs)/sectorSize + 7) / 8
	img.bitmap = (bitmapBytes + sectorSize - 1) / sectorSize * sectorSize
	return nil
}

// Footer is the image's footer.
func (img *Image) Footer() Footer { return img.footer }

// Size is the virtual disk's size in bytes.
func (img *Image) Size() int64 { return int64(img.footer.CurrentSize) }

// ReadAt reads the virtual disk.
func (img *Image) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("vhd: negative offset")
	}
	if off >= img.Size() {
		return 0, io.EOF
	}
	want := len(p)
	p = p[:min(int64(len(p)), img.Size()-off)]
	var err error
	if img.footer.DiskType == TypeFixed {
		_, err = img.r.ReadAt(p, off)
	} else {
		err = img.readDynamic(p, off)
	}
	if err != nil {
		return 0, fmt.Errorf("vhd: offset %#x: %w", off, err)
	}
	if len(p) < want {
		return len(p), io.EOF
	}
	return len(p), nil
}

// readDynamic reads through the block allocation table, one sector at a
// time where the block's bitmap says some sectors are absent.
func (img *Image) readDynamic(p []byte, off int64) error {
	bitmap := make([]byte, img.bitmap)
	for len(p) > 0 {
		blk, in := off/img.blockSize, off%img.blockSize
		n := min(int64(len(p)), img.blockSize-in)
		entry := img.bat[blk]
		if entry == unusedBlock {
			clear(p[:n])
		} else {
			start := int64(entry) * sectorSize
			if start+img.bitmap+img.blockSize > img.fileSize {
				return fmt.Errorf("block %d at %#x lies beyond the file", blk, start)
			}
			if _, err := img.r.ReadAt(bitmap, start); err != nil {
				return err
			}
			if _, err := img.r.ReadAt(p[:n], start+img.bitmap+in); err != nil {
				return err
			}
			// Sectors not marked present read as zeros.
			for s := in / sectorSize; s*sectorSize < in+n; s++ {
				if bitmap[s/8]&(0x80>>(s%8)) == 0 {
					lo := max(s*sectorSize, in) - in
					hi := min((s+1)*sectorSize, in+n) - in
					clear(p[lo:hi])
				}
			}
		}
		p, off = p[n:], off+n
	}
	return nil
}
