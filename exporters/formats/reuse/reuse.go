// Package reuse lets the compressing writers (compressed qcow2, VMDK) copy
// what an earlier conversion already compressed instead of compressing it
// again.
//
// A disk built on a cached base disk (a Kubernetes node disk is its OS disk
// with files added) equals the base at the same offsets for most of its
// clusters. Those writers compress every cluster on its own with a
// deterministic encoder, so where a cluster's raw bytes equal the base's,
// the bytes the base's image stores for it are exactly what compressing it
// again would give: copying them leaves the output byte for byte as it would
// be without reuse, only sooner.
//
// That holds only if the image really is what the same writer, with the
// same options, made of the base raw disk. Prepare checks as much of that as
// it can cheaply (see Index); an image that fails a check is not used at all,
// and the conversion compresses everything as it would without one.
package reuse

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/strata-dev/strata/exporters/formats/rawdisk"
)

// Stats says how a conversion used its reuse image.
type Stats struct {
	// Reused counts the clusters (VMDK: grains) copied from the image.
	Reused int64
	// Compressed counts those compressed anew, Mismatched included.
	Compressed int64
	// Mismatched counts clusters whose raw bytes equal the base's but whose
	// stored bytes failed the format's own check (VMDK's Adler-32): a sign
	// the image is not the base raw disk's conversion.
	Mismatched int64
	// Ignored says why the image was not used at all; "" when it was.
	Ignored string
}

// Base is an earlier conversion to copy from: a raw disk and the image the
// same writer, with the same options, made of it.
type Base struct {
	Raw       *rawdisk.Disk
	Image     io.ReaderAt
	ImageSize int64
	// Stats is filled in by the writer.
	Stats Stats
}

// Chunk is where the image stores one block: Len bytes at Off, exactly
// what the writer emits for it (before any padding, see Format.Pad).
type Chunk struct {
	Off int64
	Len int
}

// Encoder appends what a writer stores for block number idx, whose bytes
// are block, to dst. It is what the reuse image must hold for that block.
type Encoder func(dst []byte, idx int64, block []byte) []byte

// Format is what a writer tells Prepare about its images.
type Format struct {
	// BlockSize is the unit of reuse: the format's cluster or grain.
	BlockSize int
	// Index lists where an image of size bytes stores each block that
	// holds data, or says why the image cannot serve a disk of diskSize
	// bytes.
	Index func(image io.ReaderAt, size, diskSize int64) (map[int64]Chunk, error)
	// Pad, when set, is what every stored block is padded to with zeros
	// (VMDK's sectors); padding is never copied from the image.
	Pad int
	// Verify, when set, checks a block's stored bytes against the block's
	// raw bytes before they are copied.
	Verify func(stored, block []byte) bool
}

// probes is how many blocks Prepare compresses again to compare with the
// image. A different encoder, another level, or an image of another disk
// changes nearly every block's bytes, so a few suffice; 32 cost about as
// much as compressing 2 MiB.
const probes = 32

// Index is where a writer's workers find the blocks they may copy. Every
// writer makes one, even without a reuse image, and encodes through it.
//
// Blocks are copied only from an image that passed these checks, each of
// which a wrong image would likely fail:
//   - the format's own: the header is one this writer writes, with the
//     cluster size and virtual size the source gets, and every block's
//     exact length can be told (Format.Index);
//   - the base raw disk is the source's size;
//   - the image stores exactly the blocks of the base raw disk that hold
//     data: no more, no fewer (the layout);
//   - a sample of blocks, compressed again from the base raw disk, gives
//     the image's bytes exactly.
//
// What no check catches is an image of another disk with the same layout
// whose differing blocks all escape the sample (a base rebuilt with one file
// changed in place). Only VMDK can catch that cheaply, through the checksum
// every grain carries; for qcow2 it would take inflating every copied
// cluster, a third of what compressing costs. Callers must pass the image
// made from the raw disk they pass.
type Index struct {
	f      Format
	base   *Base
	src    *rawdisk.Disk
	chunks map[int64]Chunk // nil: copy nothing
	bufs   sync.Pool

	reused, compressed, mismatched atomic.Int64
}

// Prepare checks base against src, the disk about to be converted, and
// returns the index the writer's workers consult. A base that does not fit
// gives an index that copies nothing, with the reason in base.Stats.Ignored:
// reuse may save work but must never change the output, and compressing
// everything is always right. Only a canceled ctx is an error. base may be
// nil (no reuse asked); encode is used on this goroutine only.
func Prepare(ctx context.Context, base *Base, src *rawdisk.Disk, f Format, encode Encoder) (*Index, error) {
	ix := &Index{f: f, base: base, src: src}
	if base == nil {
		return ix, nil
	}
	chunks, err := ix.check(ctx, src, encode)
	if cerr := ctx.Err(); cerr != nil {
		return nil, cerr
	}
	if err != nil {
		base.Stats.Ignored = err.Error()
		return ix, nil
	}
	ix.chunks = chunks
	return ix, nil
}

func (ix *Index) check(ctx context.Context, src *rawdisk.Disk, encode Encoder) (map[int64]Chunk, error) {
	raw := ix.base.Raw
	if raw.Size() != src.Size() {
		return nil, fmt.Errorf("the reuse raw disk is %d bytes, the source %d", raw.Size(), src.Size())
	}
	chunks, err := ix.f.Index(ix.base.Image, ix.base.ImageSize, src.Size())
	if err != nil {
		return nil, fmt.Errorf("reuse image: %w", err)
	}
	if err := checkLayout(ctx, raw, ix.f.BlockSize, chunks); err != nil {
		return nil, err
	}
	if err := ix.probe(chunks, encode); err != nil {
		return nil, err
	}
	return chunks, nil
}

// checkLayout makes sure the image stores exactly the blocks of raw that
// hold data. It reads raw's data once, which costs far less than the
// compression it may save.
func checkLayout(ctx context.Context, raw *rawdisk.Disk, bs int, chunks map[int64]Chunk) error {
	used, err := raw.Map(ctx, bs)
	if err != nil {
		return fmt.Errorf("reading the reuse raw disk: %w", err)
	}
	n := 0
	for _, e := range used {
		for off := e.Off; off < e.End(); off += int64(bs) {
			if _, ok := chunks[off/int64(bs)]; !ok {
				return fmt.Errorf("the reuse image does not store block %d, which holds data in the reuse raw disk: not its conversion", off/int64(bs))
			}
			n++
		}
	}
	if n != len(chunks) {
		return fmt.Errorf("the reuse image stores %d blocks, the reuse raw disk has %d that hold data: not its conversion", len(chunks), n)
	}
	return nil
}

// probe compresses blocks spread over the disk again and compares the
// result with the image's bytes.
func (ix *Index) probe(chunks map[int64]Chunk, encode Encoder) error {
	keys := slices.Sorted(maps.Keys(chunks))
	n := min(probes, len(keys))
	block := make([]byte, ix.f.BlockSize)
	var want, got []byte
	for i := range n {
		idx := keys[i*len(keys)/n]
		if _, err := ix.base.Raw.ReadAt(block, idx*int64(ix.f.BlockSize)); err != nil {
			return fmt.Errorf("reading the reuse raw disk: %w", err)
		}
		want = encode(want[:0], idx, block)
		var err error
		if got, err = ix.appendChunk(got[:0], chunks[idx]); err != nil {
			return err
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("block %d of the reuse image is not what compressing the reuse raw disk gives: another disk, level or encoder", idx)
		}
	}
	return nil
}

// Known is for rawdisk.ScanOptions.Known: it vouches for the blocks of a
// layered source that are its base's, when the base is the reuse raw disk
// and the image stores exactly that disk's used blocks (checked by
// Prepare). Such a block holds data exactly where the image stores it, and
// AppendBatch copies it without its bytes. It returns nil, vouching for
// nothing, when that does not hold, or when the format checks stored bytes
// against the raw ones (Format.Verify), which must then be read.
func (ix *Index) Known() func(off int64) (used, ok bool) {
	if ix.chunks == nil || ix.f.Verify != nil {
		return nil
	}
	bs := int64(ix.f.BlockSize)
	return func(off int64) (used, ok bool) {
		if off%bs != 0 || !ix.src.Unchanged(ix.base.Raw, off, bs) {
			return false, false
		}
		_, used = ix.chunks[off/bs]
		return used, true
	}
}

// AppendBatch appends to out what the writer stores for each used block of
// b, in order: copied from the image where the base raw disk holds the same
// bytes, made by encode otherwise, then padded (Format.Pad). ends[i] is
// where block i's bytes end in out; an unused block adds none. Workers may
// call it concurrently, each with its own encode.
func (ix *Index) AppendBatch(out []byte, ends []int, b *rawdisk.Batch, encode Encoder) ([]byte, []int, error) {
	hits, err := ix.match(b)
	if err != nil {
		return out, ends, err
	}
	for i := range b.Blocks() {
		if b.Used(i) {
			start := len(out)
			copied := false
			if hits != nil && hits[i].Len > 0 {
				if out, copied, err = ix.copyChunk(out, hits[i], b.Block(i)); err != nil {
					return out, ends, err
				}
			}
			if !copied && !b.Read(i) {
				return out, ends, fmt.Errorf("block %d was not read, and the reuse image cannot supply it", b.Index(i))
			}
			if !copied {
				out = encode(out, b.Index(i), b.Block(i))
				ix.compressed.Add(1)
			}
			out = ix.pad(out, start)
		}
		ends = append(ends, len(out))
	}
	return out, ends, nil
}

// match returns, for each block of b that holds data and equals the base
// raw disk's, the image's chunk for it (zero elsewhere). Blocks the source
// says are the base's (a layered disk's, see rawdisk.Disk.Unchanged) match
// as they are; the others are compared with the base, which is read only
// for them. It returns nil when nothing can match.
func (ix *Index) match(b *rawdisk.Batch) ([]Chunk, error) {
	if !ix.anyChunk(b) {
		return nil, nil
	}
	hits := make([]Chunk, b.Blocks())
	bs := b.BlockSize
	compare := false
	for i := range b.Blocks() {
		c, ok := ix.chunks[b.Index(i)]
		switch {
		case !ok || !b.Used(i):
		case ix.src.Unchanged(ix.base.Raw, b.Off+int64(i*bs), int64(bs)):
			hits[i] = c
		default:
			compare = true
		}
	}
	if !compare {
		return hits, nil
	}
	p, _ := ix.bufs.Get().(*[]byte)
	if p == nil {
		p = new([]byte)
	}
	defer ix.bufs.Put(p)
	if cap(*p) < len(b.Data) {
		*p = make([]byte, len(b.Data))
	}
	base := (*p)[:len(b.Data)]
	if _, err := ix.base.Raw.ReadAt(base, b.Off); err != nil {
		return nil, fmt.Errorf("reading the reuse raw disk: %w", err)
	}
	for i := range b.Blocks() {
		if c, ok := ix.chunks[b.Index(i)]; ok && b.Used(i) && hits[i].Len == 0 && bytes.Equal(b.Block(i), base[i*bs:(i+1)*bs]) {
			hits[i] = c
		}
	}
	return hits, nil
}

// anyChunk says whether the image stores any used block of b; where it
// stores none (new files in what was a hole) the base need not be read.
func (ix *Index) anyChunk(b *rawdisk.Batch) bool {
	if len(ix.chunks) == 0 {
		return false
	}
	for i := range b.Blocks() {
		if _, ok := ix.chunks[b.Index(i)]; ok && b.Used(i) {
			return true
		}
	}
	return false
}

// copyChunk appends c's bytes to out if they pass Format.Verify against
// block; otherwise it leaves out as it was and says so.
func (ix *Index) copyChunk(out []byte, c Chunk, block []byte) ([]byte, bool, error) {
	start := len(out)
	out, err := ix.appendChunk(out, c)
	if err != nil {
		return out[:start], false, err
	}
	if ix.f.Verify != nil && !ix.f.Verify(out[start:], block) {
		ix.mismatched.Add(1)
		return out[:start], false, nil
	}
	ix.reused.Add(1)
	return out, true, nil
}

// appendChunk reads c from the image onto out.
func (ix *Index) appendChunk(out []byte, c Chunk) ([]byte, error) {
	start := len(out)
	out = slices.Grow(out, c.Len)[:start+c.Len]
	if _, err := ix.base.Image.ReadAt(out[start:], c.Off); err != nil {
		return out[:start], fmt.Errorf("reading the reuse image at %#x: %w", c.Off, err)
	}
	return out, nil
}

// pad zero-pads what was appended to out since start to a multiple of
// Format.Pad.
func (ix *Index) pad(out []byte, start int) []byte {
	if ix.f.Pad <= 1 {
		return out
	}
	n := (ix.f.Pad - (len(out)-start)%ix.f.Pad) % ix.f.Pad
	return append(out, make([]byte, n)...)
}

// Finish records the counts in the base's Stats; the writer calls it once
// its workers are done. It does nothing without a base.
func (ix *Index) Finish() {
	if ix == nil || ix.base == nil {
		return
	}
	s := &ix.base.Stats
	s.Reused, s.Compressed, s.Mismatched = ix.reused.Load(), ix.compressed.Load(), ix.mismatched.Load()
}
