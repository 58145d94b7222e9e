package formats

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/strata-dev/strata/exporters/atomicfile"
)

// rawChunk is how much of the virtual disk WriteRaw reads at a time: large
// enough to keep a qcow2's cluster reads sequential, small enough that an
// all-zero chunk is common on a mostly empty disk.
const rawChunk = 1 << 20

// WriteRaw writes img's virtual disk to dst as a raw image, the way a
// vendor's qcow2, VMDK or VHD is turned into the raw disk strata layers:
// chunks that read as zeros stay holes, so a 10 GiB disk holding 2 GiB
// takes 2 GiB. dst appears only when complete. It returns how many bytes
// of data it wrote.
func WriteRaw(ctx context.Context, img *Image, dst string) (_ int64, err error) {
	out, err := atomicfile.Create(dst, 0o644)
	if err != nil {
		return 0, err
	}
	defer out.AbortOnError(&err)
	if err := out.Truncate(img.Size); err != nil {
		return 0, fmt.Errorf("sizing %s: %w", dst, err)
	}
	buf, zero := make([]byte, rawChunk), make([]byte, rawChunk)
	var written int64
	for off := int64(0); off < img.Size; off += rawChunk {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		n := int(min(rawChunk, img.Size-off))
		if _, err := img.ReadAt(buf[:n], off); err != nil && err != io.EOF {
			return 0, fmt.Errorf("reading the %s image at %d: %w", img.Format, off, err)
		}
		if bytes.Equal(buf[:n], zero[:n]) {
			continue
		}
		if _, err := out.WriteAt(buf[:n], off); err != nil {
			return 0, fmt.Errorf("writing %s: %w", dst, atomicfile.Explain(err, dst))
		}
		written += int64(n)
	}
	if err := out.Commit(); err != nil {
		return 0, err
	}
	return written, nil
}
