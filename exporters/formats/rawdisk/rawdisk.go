// Package rawdisk reads a raw disk image for the format writers. It hands
// the disk out in batches of fixed-size blocks and says which blocks hold
// anything but zeros, so every writer can leave holes as holes. Holes of a
// sparse file are found with SEEK_DATA/SEEK_HOLE and never read; all-zero
// blocks inside data extents are found by looking at them. Nothing holds
// more than a few batches in memory.
package rawdisk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/strata-dev/strata/exporters/formats/pipeline"
)

// Disk is a raw disk image: its bytes, its size and, when it is a file,
// the file's own map of holes.
type Disk struct {
	r    io.ReaderAt
	size int64
	// file is set when the source is a regular file, whose holes
	// SEEK_DATA/SEEK_HOLE can report.
	file   *os.File
	closer io.Closer
	// layers is set for a Layered disk.
	layers *layers
}

// Open opens the raw disk image at path.
func Open(path string) (*Disk, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	d := New(f, st.Size())
	d.closer = f
	return d, nil
}

// New reads a disk of size bytes from r. When r is an *os.File its holes
// are skipped without reading them; any other reader is read in full.
func New(r io.ReaderAt, size int64) *Disk {
	d := &Disk{r: r, size: size}
	if f, ok := r.(*os.File); ok {
		d.file = f
	}
	return d
}

// Size is the disk's size in bytes.
func (d *Disk) Size() int64 { return d.size }

// Close closes the file Open opened; it does nothing for a Disk from New.
func (d *Disk) Close() error {
	if d.closer == nil {
		return nil
	}
	return d.closer.Close()
}

// ReadAt reads from the disk. Bytes past its end read as zeros, so a
// writer can always read whole blocks; the count returned covers them.
func (d *Disk) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("negative offset %d", off)
	}
	inside := min(int64(len(p)), max(d.size-off, 0))
	n, err := d.r.ReadAt(p[:inside], off)
	if int64(n) < inside {
		if err == nil || errors.Is(err, io.EOF) {
			err = fmt.Errorf("disk ends early at %d: %w", off+int64(n), io.ErrUnexpectedEOF)
		}
		return n, err
	}
	clear(p[inside:])
	return len(p), nil
}

// Extent is a byte range of the disk.
type Extent struct {
	Off, Len int64
}

// End is the offset just past the extent.
func (e Extent) End() int64 { return e.Off + e.Len }

// dataExtents lists the ranges that may hold data: the file's data extents
// when the filesystem reports them, the whole disk otherwise.
func (d *Disk) dataExtents() ([]Extent, error) {
	if d.size == 0 {
		return nil, nil
	}
	if d.layers != nil {
		return d.layers.dataExtents()
	}
	if d.file == nil {
		return []Extent{{0, d.size}}, nil
	}
	return DataExtents(d.file, d.size)
}

// DataExtents lists the data extents of the first size bytes of f, in
// order, as SEEK_DATA/SEEK_HOLE report them; all of them when the
// filesystem cannot tell.
func DataExtents(f *os.File, size int64) ([]Extent, error) {
	fd := int(f.Fd())
	var out []Extent
	for off := int64(0); off < size; {
		data, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // only a hole remains
		}
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP) {
			return []Extent{{0, size}}, nil // the filesystem cannot tell; read it all
		}
		if err != nil {
			return nil, fmt.Errorf("seeking data: %w", err)
		}
		if data >= size {
			break
		}
		hole, err := unix.Seek(fd, data, unix.SEEK_HOLE)
		if err != nil {
			return nil, fmt.Errorf("seeking hole: %w", err)
		}
		hole = min(hole, size)
		out = append(out, Extent{data, hole - data})
		off = hole
	}
	return out, nil
}

// Batch is a run of consecutive blocks read from the disk, at least one of
// which holds data. Its receiver owns it until it calls Release.
type Batch struct {
	// Off is the disk offset of the first block, a multiple of the block
	// size.
	Off int64
	// Data holds whole blocks; bytes past the disk's end are zeros. Blocks
	// that were not read (see Read) hold garbage.
	Data      []byte
	BlockSize int
	// used[i] says block i holds at least one non-zero byte.
	used []bool
	// unread[i] says block i was not read (ScanOptions.Known).
	unread []bool
	pool   *sync.Pool
}

// Blocks is the number of blocks in the batch.
func (b *Batch) Blocks() int { return len(b.used) }

// Block returns block i's bytes. A block that was not read (see Read)
// holds garbage.
func (b *Batch) Block(i int) []byte { return b.Data[i*b.BlockSize : (i+1)*b.BlockSize] }

// Read says whether block i's bytes were read: false only for blocks that
// ScanOptions.Known vouched for.
func (b *Batch) Read(i int) bool { return !b.unread[i] }

// Used says whether block i holds any non-zero byte.
func (b *Batch) Used(i int) bool { return b.used[i] }

// Index is the disk-wide number of block i (its offset / block size).
func (b *Batch) Index(i int) int64 { return b.Off/int64(b.BlockSize) + int64(i) }

// Release hands the batch's memory back for reuse. The batch must not be
// used afterwards.
func (b *Batch) Release() {
	if b.pool != nil {
		b.pool.Put(b)
	}
}

// ScanOptions shapes the batches Scan produces.
type ScanOptions struct {
	// BlockSize is the unit of hole detection: a block is skipped only if
	// every byte of it is zero. A power of two of at least 512.
	BlockSize int
	// BatchBlocks is how many blocks a batch holds at most (default: 1 MiB
	// worth, at least one block).
	BatchBlocks int
	// Known, when set, may vouch for the block at disk offset off without
	// its being read: ok means the caller already knows whether it holds
	// data (used) and needs none of its bytes. Such blocks are not read
	// (Batch.Read), which saves copying a base disk's unchanged blocks only
	// to find them unchanged.
	Known func(off int64) (used, ok bool)
}

// Scan calls fn with every batch of blocks that holds data, in disk order.
// Blocks past the disk's end, up to the next block boundary, read as zeros.
// Holes are skipped, so consecutive batches need not be adjacent; a batch
// may still contain all-zero blocks between used ones (see Batch.Used).
func (d *Disk) Scan(ctx context.Context, o ScanOptions, fn func(*Batch) error) error {
	bs := o.BlockSize
	if bs < 512 || bs&(bs-1) != 0 {
		return fmt.Errorf("block size %d is not a power of two of at least 512", bs)
	}
	perBatch := o.BatchBlocks
	if perBatch <= 0 {
		perBatch = max(1, (1<<20)/bs)
	}
	extents, err := d.dataExtents()
	if err != nil {
		return err
	}
	pool := &sync.Pool{New: func() any {
		return &Batch{Data: make([]byte, perBatch*bs), BlockSize: bs, used: make([]bool, perBatch), unread: make([]bool, perBatch)}
	}}
	zero := make([]byte, bs)
	for _, e := range alignExtents(extents, int64(bs)) {
		for off := e.Off; off < e.End(); {
			if err := ctx.Err(); err != nil {
				return err
			}
			n := int(min(int64(perBatch), (e.End()-off)/int64(bs)))
			b := pool.Get().(*Batch)
			b.Off, b.pool = off, pool
			b.Data, b.used, b.unread = b.Data[:n*bs], b.used[:n], b.unread[:n]
			if err := d.fill(b, o.Known, zero); err != nil {
				return err
			}
			off += int64(n * bs)
			if !slices.Contains(b.used, true) {
				b.Release()
				continue
			}
			if err := fn(b); err != nil {
				return err
			}
		}
	}
	return nil
}

// fill reads b's blocks, except those known vouches for, in runs, and
// tells which hold data.
func (d *Disk) fill(b *Batch, known func(off int64) (used, ok bool), zero []byte) error {
	bs := b.BlockSize
	for i := range b.used {
		b.unread[i] = false
		if known != nil {
			b.used[i], b.unread[i] = known(b.Off + int64(i*bs))
		}
	}
	for i := 0; i < len(b.used); {
		if b.unread[i] {
			i++
			continue
		}
		j := i + 1
		for j < len(b.used) && !b.unread[j] {
			j++
		}
		if _, err := d.ReadAt(b.Data[i*bs:j*bs], b.Off+int64(i*bs)); err != nil {
			return err
		}
		for ; i < j; i++ {
			b.used[i] = !bytes.Equal(b.Block(i), zero)
		}
	}
	return nil
}

// ScanOverlapped is Scan with fn running on a goroutine of its own, so the
// next batch is read while fn writes out the last: for a plain copy that
// is most of the work, and reading and writing each take a core.
func (d *Disk) ScanOverlapped(ctx context.Context, o ScanOptions, fn func(*Batch) error) error {
	p := pipeline.New(1, func(*Batch) error { return nil }, fn)
	err := d.Scan(ctx, o, p.Submit)
	if cerr := p.Close(); err == nil {
		err = cerr
	}
	return err
}

// alignExtents widens extents to whole blocks and merges those that then
// touch, keeping disk order.
func alignExtents(in []Extent, bs int64) []Extent {
	var out []Extent
	for _, e := range in {
		start := e.Off / bs * bs
		end := (e.End() + bs - 1) / bs * bs
		if n := len(out); n > 0 && start <= out[n-1].End() {
			out[n-1].Len = max(out[n-1].End(), end) - out[n-1].Off
			continue
		}
		out = append(out, Extent{start, end - start})
	}
	return out
}

// Map lists the runs of blocks that hold data, in disk order, each a whole
// number of blocks (the last may reach past the disk's end to its block
// boundary). It reads every data extent once.
func (d *Disk) Map(ctx context.Context, blockSize int) ([]Extent, error) {
	var out []Extent
	err := d.Scan(ctx, ScanOptions{BlockSize: blockSize}, func(b *Batch) error {
		defer b.Release()
		for i := range b.Blocks() {
			if !b.Used(i) {
				continue
			}
			off := b.Off + int64(i*blockSize)
			if n := len(out); n > 0 && out[n-1].End() == off {
				out[n-1].Len += int64(blockSize)
			} else {
				out = append(out, Extent{off, int64(blockSize)})
			}
		}
		return nil
	})
	return out, err
}
