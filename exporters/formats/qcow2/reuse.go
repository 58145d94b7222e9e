package qcow2

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"

	"github.com/strata-dev/strata/exporters/formats/deflate"
	"github.com/strata-dev/strata/exporters/formats/reuse"
)

// reuseFormat describes compressed images to package reuse.
var reuseFormat = reuse.Format{BlockSize: clusterSize, Index: indexCompressed}

// storedForm is the encoder the compressed writer and package reuse share:
// a cluster's raw deflate stream, or the cluster itself where deflate
// cannot make it smaller. placeCompressed stores anything of a whole
// cluster or more as the cluster itself.
func storedForm(e *deflate.Encoder) reuse.Encoder {
	return func(dst []byte, _ int64, block []byte) []byte {
		out := e.AppendRaw(dst, block)
		if len(out)-len(dst) >= clusterSize {
			return append(out[:len(dst)], block...)
		}
		return out
	}
}

// indexCompressed finds, for every allocated guest cluster of a compressed
// image this package wrote, the exact bytes it stores: the cluster itself
// for one stored whole, the deflate stream for a compressed one. Anything
// this writer would not have written, for a disk of diskSize bytes, makes
// it refuse the image.
func indexCompressed(r io.ReaderAt, fileSize, diskSize int64) (map[int64]reuse.Chunk, error) {
	img, err := Open(r, fileSize)
	if err != nil {
		return nil, err
	}
	if err := img.h.writtenHere((diskSize + 511) &^ 511); err != nil {
		return nil, err
	}
	x := &indexer{img: img, chunks: map[int64]reuse.Chunk{}, pending: -1}
	if err := img.eachEntry(x.add); err != nil {
		return nil, err
	}
	if err := x.settle(0, true); err != nil {
		return nil, err
	}
	// A plain image stores every cluster whole; taken as compressed, it
	// would make every matching cluster whole however well it compresses.
	if x.compressed == 0 && len(x.chunks) > 0 {
		return nil, errors.New("no cluster is compressed: not a compressed image")
	}
	return x.chunks, nil
}

// writtenHere checks that h is a header Write writes for a disk of virtual
// size bytes.
func (h *header) writtenHere(size int64) error {
	switch {
	case h.Version != 3 || h.HeaderLength != v3HeaderLength || h.RefcountOrder != refcountOrder:
		return fmt.Errorf("qcow2 version %d, header length %d, refcount order %d: not written by strata", h.Version, h.HeaderLength, h.RefcountOrder)
	case h.ClusterBits != clusterBits:
		return fmt.Errorf("cluster size %d, want %d", 1<<h.ClusterBits, clusterSize)
	case h.IncompatibleFeatures|h.CompatibleFeatures|h.AutoclearFeatures != 0 || h.NbSnapshots != 0:
		return errors.New("feature bits or snapshots set: not written by strata")
	case int64(h.Size) != size:
		return fmt.Errorf("virtual size %d, the source's is %d", h.Size, size)
	}
	return nil
}

// eachEntry calls fn with every non-zero L2 entry, in guest order.
func (img *Image) eachEntry(fn func(idx int64, e uint64) error) error {
	perTable := img.cs / 8
	for t, l1e := range img.l1 {
		off := l1e & offsetMask
		if off == 0 {
			continue
		}
		if err := inFile("L2 table", off, uint64(img.cs), uint64(img.cs), img.fileSize); err != nil {
			return err
		}
		l2, err := img.readTable(int64(off), int(perTable))
		if err != nil {
			return fmt.Errorf("reading L2 table %d: %w", t, err)
		}
		for i, e := range l2 {
			if e == 0 {
				continue
			}
			if err := fn(int64(t)*perTable+int64(i), e); err != nil {
				return err
			}
		}
	}
	return nil
}

// indexer turns L2 entries into chunks. A compressed cluster's entry gives
// its offset and the 512-byte sectors it touches, not its length, so each
// one waits for the next compressed cluster to learn where it ends.
type indexer struct {
	img        *Image
	chunks     map[int64]reuse.Chunk
	compressed int

	// The last compressed cluster, whose length is not known yet: its
	// guest index (-1: none), offset, and the end of its last sector.
	pending          int64
	pendOff, pendEnd int64
	// inflated counts lengths found by inflating, for tests.
	inflated int
}

func (x *indexer) add(idx int64, e uint64) error {
	if e&flagCompressed == 0 {
		return x.addWhole(idx, e)
	}
	if e&flagCopied != 0 {
		return fmt.Errorf("guest cluster %d: compressed entry %#x has the COPIED flag: not written by strata", idx, e)
	}
	off, n := x.img.compressedRange(e)
	if err := x.settle(off, false); err != nil {
		return err
	}
	x.pending, x.pendOff, x.pendEnd = idx, off, off+n
	x.compressed++
	return nil
}

// addWhole records a cluster stored as it is. The writer sets nothing but
// its offset and the COPIED flag.
func (x *indexer) addWhole(idx int64, e uint64) error {
	host := e & offsetMask
	if e != host|flagCopied {
		return fmt.Errorf("guest cluster %d: entry %#x is not a plain data cluster: not written by strata", idx, e)
	}
	if err := inFile("data cluster", host, clusterSize, clusterSize, x.img.fileSize); err != nil {
		return err
	}
	x.chunks[idx] = reuse.Chunk{Off: int64(host), Len: clusterSize}
	return nil
}

// settle gives the pending compressed cluster its length now that the next
// one is known to start at next. The writer packs compressed clusters back
// to back in guest order and starts a fresh host cluster only after one
// stored whole, which lies beyond the pending cluster's last sector. So a
// next cluster that starts inside that last sector starts exactly where the
// pending one ends. Otherwise, and for the last one (last), the pending
// cluster's deflate stream is inflated to find its end; in a disk image
// that is rare (see TestReuseIndexLengths).
func (x *indexer) settle(next int64, last bool) error {
	if x.pending < 0 {
		return nil
	}
	off, end := x.pendOff, x.pendEnd
	n := next - off
	switch {
	case !last && next <= off:
		return fmt.Errorf("guest cluster %d: compressed clusters not packed in guest order: not written by strata", x.pending)
	case last || next <= max(off, end-512) || next > end:
		var err error
		if n, err = x.img.streamLength(off, end); err != nil {
			return fmt.Errorf("guest cluster %d: %w", x.pending, err)
		}
		x.inflated++
	}
	if off+n > x.img.fileSize {
		return fmt.Errorf("guest cluster %d: compressed data lies beyond the end of the file", x.pending)
	}
	// The writer stores a cluster whole when deflate cannot make it
	// smaller, and tells a whole one from a compressed one by length alone.
	if n >= clusterSize {
		return fmt.Errorf("guest cluster %d: compressed into %d bytes, no smaller than the cluster: not written by strata", x.pending, n)
	}
	x.chunks[x.pending] = reuse.Chunk{Off: off, Len: int(n)}
	x.pending = -1
	return nil
}

// streamLength inflates the deflate stream at off, which ends by end, and
// returns its exact length. compress/flate reads a bytes.Reader byte by
// byte (it is an io.ByteReader) and no further than the final block's last
// bit, so what it leaves unread follows the stream.
func (img *Image) streamLength(off, end int64) (int64, error) {
	end = min(end, img.fileSize)
	if off >= end {
		return 0, fmt.Errorf("compressed cluster at %#x lies beyond the end of the file", off)
	}
	buf := make([]byte, end-off)
	if _, err := img.r.ReadAt(buf, off); err != nil {
		return 0, err
	}
	br := bytes.NewReader(buf)
	zr := flate.NewReader(br)
	defer zr.Close()
	n, err := io.CopyN(io.Discard, zr, clusterSize+1)
	if n != clusterSize || !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("compressed cluster at %#x inflates to %d bytes (%v), want one cluster", off, n, err)
	}
	length := int64(len(buf) - br.Len())
	if length <= end-512-off {
		return 0, fmt.Errorf("compressed cluster at %#x ends before its last sector", off)
	}
	return length, nil
}
