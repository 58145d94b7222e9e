package disk

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"time"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/fat32"
)

// espFile is one file to put on the ESP: either copied from a host file or
// given as bytes.
type espFile struct {
	Path   string // absolute ESP path, '/'-separated
	Source string // host file to copy; empty means Data
	Data   []byte
}

// espWriteChunk is how much is handed to go-diskfs per Write. Its FAT32
// File.Write re-reads the cluster chain, rewrites both whole FATs and the
// parent directory on every call, so small writes (io.Copy's 32 KiB) turn a
// 50 MB initrd into gigabytes of I/O. 16 MiB keeps that to a handful of
// calls per file at a bounded memory cost.
const espWriteChunk = 16 << 20

// espLabel is the FAT volume label; firmware ignores it, humans and
// `blkid` see it.
const espLabel = "ESP"

// buildESP writes a FAT32 filesystem holding files into a new file at
// imgPath of exactly size bytes, then pins its volume ID and timestamps (see
// finalizeFAT32).
func buildESP(imgPath string, size int64, volumeID uint32, epoch time.Time, files []espFile) (err error) {
	if err := checkESPFits(size, files); err != nil {
		return err
	}
	f, err := os.OpenFile(imgPath, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("creating ESP image: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("closing ESP image: %w", cerr)
		}
	}()
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("sizing ESP image: %w", err)
	}

	// reproducible=true makes go-diskfs leave the volume ID at zero instead
	// of deriving it from the clock; finalizeFAT32 writes ours afterwards.
	fs, err := fat32.Create(file.New(f, false), size, 0, SectorSize, espLabel, true)
	if err != nil {
		return fmt.Errorf("creating FAT32 on the ESP: %w", err)
	}
	for _, ef := range files {
		if err := writeESPFile(fs, ef); err != nil {
			return fmt.Errorf("writing %s to the ESP: %w", ef.Path, err)
		}
	}
	if err := finalizeFAT32(f, volumeID, epoch); err != nil {
		return fmt.Errorf("finalising ESP: %w", err)
	}
	return nil
}

func writeESPFile(fs *fat32.FileSystem, ef espFile) error {
	if err := fs.Mkdir(path.Dir(ef.Path)); err != nil {
		return fmt.Errorf("creating directory: %w", err)
	}
	var src io.Reader
	if ef.Source != "" {
		sf, err := os.Open(ef.Source)
		if err != nil {
			return err
		}
		defer sf.Close()
		src = sf
	} else {
		src = bytes.NewReader(ef.Data)
	}
	dst, err := fs.OpenFile(ef.Path, os.O_CREATE|os.O_RDWR|os.O_TRUNC)
	if err != nil {
		return err
	}
	defer dst.Close()

	buf := make([]byte, espWriteChunk)
	for {
		n, rerr := io.ReadFull(src, buf)
		if n > 0 {
			if _, err := dst.Write(buf[:n]); err != nil {
				return err
			}
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// checkESPFits fails early, with sizes, when the boot files cannot fit: the
// alternative is go-diskfs' bare "no space left on device" halfway through.
func checkESPFits(size int64, files []espFile) error {
	// go-diskfs picks 512-byte clusters up to 260 MiB and 4 KiB above; FATs
	// and reserved sectors take about 1%, rounded up here to 2% + 1 MiB.
	cluster := int64(512)
	if size > 260<<20 {
		cluster = 4096
	}
	var need int64
	for _, f := range files {
		n := int64(len(f.Data))
		if f.Source != "" {
			fi, err := os.Stat(f.Source)
			if err != nil {
				return fmt.Errorf("reading boot file: %w", err)
			}
			n = fi.Size()
		}
		need += (n + cluster - 1) / cluster * cluster
	}
	avail := size - size/50 - 1<<20
	if need > avail {
		return fmt.Errorf("boot files need %d MiB but a %d MiB ESP holds about %d MiB: raise the ESP size",
			(need+1<<20-1)>>20, size>>20, avail>>20)
	}
	return nil
}
