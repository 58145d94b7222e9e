package gce

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
)

// Entry describes the disk found in an archive.
type Entry struct {
	Name   string
	Size   int64 // disk.raw's full size, holes included
	Sparse bool  // stored as a GNU sparse file
	Format tar.Format
}

// Extract checks that r is a gzip'd tar holding exactly one file, disk.raw,
// of a whole number of GiB, and writes its content to dst at the same
// offsets. All-zero runs are not written, so a new file stays sparse; the
// caller truncates it to Entry.Size.
func Extract(r io.Reader, dst io.WriterAt) (Entry, error) {
	e, err := extract(r, dst)
	if err != nil {
		return e, fmt.Errorf("gce: %w", err)
	}
	return e, nil
}

func extract(r io.Reader, dst io.WriterAt) (Entry, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return Entry{}, err
	}
	tr := tar.NewReader(zr)
	h, err := tr.Next()
	if errors.Is(err, io.EOF) {
		return Entry{}, errors.New("the archive is empty")
	}
	if err != nil {
		return Entry{}, err
	}
	e := Entry{Name: h.Name, Size: h.Size, Sparse: h.Typeflag == typeGNUSparse, Format: h.Format}
	if h.Name != FileName {
		return e, fmt.Errorf("the archive holds %q, not %s", h.Name, FileName)
	}
	if h.Typeflag != tar.TypeReg && h.Typeflag != typeGNUSparse {
		return e, fmt.Errorf("%s is not a regular file (type %q)", FileName, h.Typeflag)
	}
	if h.Size <= 0 || h.Size%gib != 0 {
		return e, fmt.Errorf("%s is %d bytes, not a whole number of GiB", FileName, h.Size)
	}
	if err := copySparse(dst, tr); err != nil {
		return e, fmt.Errorf("reading %s: %w", FileName, err)
	}
	if h, err := tr.Next(); !errors.Is(err, io.EOF) {
		if err != nil {
			return e, err
		}
		return e, fmt.Errorf("the archive holds %q besides %s", h.Name, FileName)
	}
	// Reading to the end checks the gzip trailer (CRC and length).
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return e, err
	}
	return e, nil
}

// copySparse copies r to dst from offset 0, skipping all-zero chunks (the
// tar reader hands out a sparse file's holes as zeros).
func copySparse(dst io.WriterAt, r io.Reader) error {
	buf := make([]byte, 1<<20)
	zero := make([]byte, len(buf))
	var off int64
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 && !bytes.Equal(buf[:n], zero[:n]) {
			if _, werr := dst.WriteAt(buf[:n], off); werr != nil {
				return werr
			}
		}
		off += int64(n)
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
