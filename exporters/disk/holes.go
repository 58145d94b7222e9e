package disk

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// PunchHoles deallocates every all-zero, block-aligned range of the file at
// path, keeping its size and content. BuildKit's local exporter writes a disk
// image's holes out as zeros; this gives the user back a sparse file.
func PunchHoles(path string) (punched int64, err error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()

	const chunk = 1 << 20
	buf := make([]byte, chunk)
	var off int64
	var holeStart int64 = -1
	flush := func(end int64) error {
		if holeStart < 0 || end <= holeStart {
			holeStart = -1
			return nil
		}
		if err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, holeStart, end-holeStart); err != nil {
			return fmt.Errorf("punching a hole in %s: %w", path, err)
		}
		punched += end - holeStart
		holeStart = -1
		return nil
	}
	for {
		n, rerr := io.ReadFull(f, buf)
		for i := 0; i+sparseBlock <= n; i += sparseBlock {
			pos := off + int64(i)
			if allZero(buf[i : i+sparseBlock]) {
				if holeStart < 0 {
					holeStart = pos
				}
			} else if err := flush(pos); err != nil {
				return punched, err
			}
		}
		off += int64(n)
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			// A trailing partial block is data as far as holes go.
			return punched, flush(off - int64(n%sparseBlock))
		}
		if rerr != nil {
			return punched, fmt.Errorf("reading %s: %w", path, rerr)
		}
	}
}

var zeroBlock = make([]byte, sparseBlock)

func allZero(b []byte) bool { return bytes.Equal(b, zeroBlock[:len(b)]) }
