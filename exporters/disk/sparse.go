package disk

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// sparseBlock is the granularity of hole detection in the fallback copy;
// it matches the usual filesystem block, below which holes cannot exist.
const sparseBlock = 4096

// copySparse copies length bytes of src from srcOff to dst at dstOff,
// touching only src's data extents (SEEK_DATA/SEEK_HOLE) so holes stay
// holes in dst. Data moves with copy_file_range (in-kernel, and a reflink
// on filesystems that can); where the kernel refuses, a read/write loop that
// skips all-zero blocks takes over. dst's range must already read as zeros,
// which holds for a freshly truncated image.
func copySparse(dst *os.File, dstOff int64, src *os.File, srcOff, length int64) error {
	end := srcOff + length
	for off := srcOff; off < end; {
		data, err := unix.Seek(int(src.Fd()), off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			return nil // only a hole remains
		}
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP) {
			// The filesystem cannot report holes: treat it all as data and
			// let the zero-skipping loop find them.
			return copyZeroSkipping(dst, dstOff+(off-srcOff), src, off, end-off)
		}
		if err != nil {
			return fmt.Errorf("seeking data: %w", err)
		}
		if data >= end {
			return nil
		}
		hole, err := unix.Seek(int(src.Fd()), data, unix.SEEK_HOLE)
		if err != nil {
			return fmt.Errorf("seeking hole: %w", err)
		}
		hole = min(hole, end)
		if err := copyRange(dst, dstOff+(data-srcOff), src, data, hole-data); err != nil {
			return err
		}
		off = hole
	}
	return nil
}

// copyRange copies one data extent, preferring copy_file_range.
func copyRange(dst *os.File, dstOff int64, src *os.File, srcOff, n int64) error {
	for n > 0 {
		in, out := srcOff, dstOff
		w, err := unix.CopyFileRange(int(src.Fd()), &in, int(dst.Fd()), &out, int(min(n, 1<<30)), 0)
		if err != nil {
			// EXDEV (old kernels across filesystems), ENOSYS, EOPNOTSUPP and
			// EINVAL (filesystems without support) all mean "do it yourself".
			if errors.Is(err, unix.EXDEV) || errors.Is(err, unix.ENOSYS) ||
				errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL) {
				return copyZeroSkipping(dst, dstOff, src, srcOff, n)
			}
			return fmt.Errorf("copy_file_range: %w", err)
		}
		if w == 0 {
			return fmt.Errorf("copy_file_range: unexpected end of source at %d", srcOff)
		}
		srcOff, dstOff, n = srcOff+int64(w), dstOff+int64(w), n-int64(w)
	}
	return nil
}

// copyZeroSkipping copies with read/write, leaving all-zero blocks
// unwritten so they stay holes in dst.
func copyZeroSkipping(dst *os.File, dstOff int64, src *os.File, srcOff, n int64) error {
	buf := make([]byte, 1<<20)
	for n > 0 {
		chunk := buf[:min(n, int64(len(buf)))]
		r, err := src.ReadAt(chunk, srcOff)
		if r == 0 && err != nil {
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("source ends early at %d", srcOff)
			}
			return fmt.Errorf("reading: %w", err)
		}
		if err := WriteAtSkippingZeros(dst, chunk[:r], dstOff); err != nil {
			return fmt.Errorf("writing: %w", err)
		}
		srcOff, dstOff, n = srcOff+int64(r), dstOff+int64(r), n-int64(r)
	}
	return nil
}

// zeroBlock is what an all-zero block of p is compared with.
var zeroBlock = make([]byte, sparseBlock)

// WriteAtSkippingZeros writes p to f at off but leaves out its all-zero
// blocks, so that where f's range was a hole it stays one. f's range must
// already read as zeros: a new or freshly truncated file. Each run of data
// blocks is one write.
func WriteAtSkippingZeros(f *os.File, p []byte, off int64) error {
	start := -1 // where the current run of data blocks began
	for i := 0; i < len(p); i += sparseBlock {
		end := min(i+sparseBlock, len(p))
		switch zero := bytes.Equal(p[i:end], zeroBlock[:end-i]); {
		case !zero && start < 0:
			start = i
		case zero && start >= 0:
			if _, err := f.WriteAt(p[start:i], off+int64(start)); err != nil {
				return err
			}
			start = -1
		}
	}
	if start >= 0 {
		_, err := f.WriteAt(p[start:], off+int64(start))
		return err
	}
	return nil
}
