package gce

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/strata-dev/strata/exporters/formats/deflate"
	"github.com/strata-dev/strata/exporters/formats/internal/countw"
	"github.com/strata-dev/strata/exporters/formats/rawdisk"
)

const gib = 1 << 30

// mapBlock is the unit of hole detection for the sparse map: all-zero
// 64 KiB blocks are left out of the archive.
const mapBlock = 64 << 10

// Options configures Write.
type Options struct {
	// Time is the file's modification time in the archive and the gzip
	// header's (zero: the Unix epoch). Use SOURCE_DATE_EPOCH.
	Time    time.Time
	Level   int // deflate level 1-9 (0: deflate.DefaultLevel)
	Workers int // 0: GOMAXPROCS
}

// DiskSize is the size disk.raw gets for a disk of size bytes: rounded up
// to a whole GiB, as GCE requires; the added tail is a hole.
func DiskSize(size int64) int64 { return (size + gib - 1) / gib * gib }

// Write streams the archive for src to w and returns its size. It reads
// the disk twice: once to find the regions that hold data (the tar header
// must list them up front), once to store them.
func Write(ctx context.Context, w io.Writer, src *rawdisk.Disk, o Options) (int64, error) {
	if src.Size() == 0 {
		return 0, fmt.Errorf("gce: the disk is empty")
	}
	realSize := DiskSize(src.Size())
	data, err := src.Map(ctx, mapBlock)
	if err != nil {
		return 0, fmt.Errorf("gce: mapping the disk: %w", err)
	}
	cw := &countw.Writer{W: w}
	gz, err := deflate.NewGzipWriter(cw, deflate.GzipOptions{Level: o.Level, Workers: o.Workers, ModTime: o.Time})
	if err != nil {
		return 0, fmt.Errorf("gce: %w", err)
	}
	if err := writeTar(ctx, gz, src, data, realSize, o.Time); err != nil {
		gz.Close()
		return cw.N, fmt.Errorf("gce: %w", err)
	}
	if err := gz.Close(); err != nil {
		return cw.N, fmt.Errorf("gce: %w", err)
	}
	return cw.N, nil
}

// writeTar writes the uncompressed archive: headers, the data regions
// back to back, padding, the end-of-archive blocks and record padding.
func writeTar(ctx context.Context, w io.Writer, src *rawdisk.Disk, data []rawdisk.Extent, realSize int64, mtime time.Time) error {
	hdr := sparseHeaders(data, realSize, mtime)
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	n := int64(len(hdr))
	buf := make([]byte, 1<<20)
	for _, e := range data {
		for off := e.Off; off < e.End(); {
			if err := ctx.Err(); err != nil {
				return err
			}
			chunk := buf[:min(int64(len(buf)), e.End()-off)]
			if _, err := src.ReadAt(chunk, off); err != nil {
				return err
			}
			if _, err := w.Write(chunk); err != nil {
				return err
			}
			off += int64(len(chunk))
			n += int64(len(chunk))
		}
	}
	// Pad the file's data to a block, add the two zero blocks that end an
	// archive, and fill the last record.
	end := (n+blockSize-1)/blockSize*blockSize + 2*blockSize
	end = (end + recordSize - 1) / recordSize * recordSize
	_, err := w.Write(make([]byte, end-n))
	return err
}
