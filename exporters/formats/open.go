package formats

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/strata-dev/strata/exporters/formats/qcow2"
	"github.com/strata-dev/strata/exporters/formats/vhd"
	"github.com/strata-dev/strata/exporters/formats/vmdk"
)

// Image is a disk image opened for reading whatever its format: reads see
// the virtual disk, as a raw image would show it.
type Image struct {
	io.ReaderAt
	// Format names what the file is: raw, qcow2, vhd or vmdk.
	Format string
	// Size is the virtual disk's size.
	Size int64
	file *os.File
}

// Close closes the file.
func (img *Image) Close() error { return img.file.Close() }

// File is the image's file, for callers that want its on-disk size.
func (img *Image) File() *os.File { return img.file }

// Open opens a raw, qcow2, VHD (fixed or dynamic) or VMDK image, telling
// the format by its magic numbers. Archives (a GCE tar.gz, an OVA) hold an
// image rather than being one; Open says so and how to get at it.
func Open(path string) (*Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	img, err := open(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return img, nil
}

func open(f *os.File) (*Image, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	head := make([]byte, 512)
	n, err := f.ReadAt(head, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	head = head[:n]
	var tail [8]byte
	if size >= 512 {
		if _, err := f.ReadAt(tail[:], size-512); err != nil {
			return nil, err
		}
	}
	switch {
	case bytes.HasPrefix(head, []byte("QFI\xfb")):
		img, err := qcow2.Open(f, size)
		if err != nil {
			return nil, err
		}
		return &Image{ReaderAt: img, Format: "qcow2", Size: img.Size(), file: f}, nil
	case bytes.HasPrefix(head, []byte("KDMV")):
		img, err := vmdk.Open(f, size)
		if err != nil {
			return nil, err
		}
		return &Image{ReaderAt: img, Format: "vmdk", Size: img.Size(), file: f}, nil
	case string(tail[:]) == "conectix":
		img, err := vhd.Open(f, size)
		if err != nil {
			return nil, err
		}
		return &Image{ReaderAt: img, Format: "vhd", Size: img.Size(), file: f}, nil
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return nil, errors.New("a gzip'd archive, such as a GCE image: extract its disk.raw first (tar -xSzf)")
	case len(head) > 262 && string(head[257:262]) == "ustar":
		return nil, errors.New("a tar archive, such as an OVA: extract its .vmdk first (tar -xf)")
	}
	return &Image{ReaderAt: f, Format: "raw", Size: size, file: f}, nil
}
