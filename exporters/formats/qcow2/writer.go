package qcow2

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"

	"github.com/strata-dev/strata/exporters/formats/deflate"
	"github.com/strata-dev/strata/exporters/formats/pipeline"
	"github.com/strata-dev/strata/exporters/formats/rawdisk"
	"github.com/strata-dev/strata/exporters/formats/reuse"
)

// DefaultLevel is the deflate level for compressed images. qemu-img
// compresses with zlib's level 6 in a 4 KiB window; level 2 of our encoder,
// with the full 32 KiB window, is both faster and smaller.
//
// About that window: qemu inflates each compressed cluster in a single
// call into a whole-cluster buffer, so the 4 KiB window it declares never
// limits how far back a match may reach, and the qcow2 specification sets
// no window at all. Any deflate stream that fits in a cluster is read back
// correctly; the tests prove it with qemu-img compare.
const DefaultLevel = 2

// Options configures Write.
type Options struct {
	// Compress stores clusters deflate-compressed where that makes them
	// smaller.
	Compress bool
	// Level is the deflate level, 1-9 (0: DefaultLevel).
	Level int
	// Workers compress in parallel (0: GOMAXPROCS).
	Workers int
	// Reuse, with Compress, is an earlier compressed conversion, by Write
	// with the same Level, of a disk the source mostly equals: clusters
	// whose raw bytes equal that disk's are copied from it, not compressed
	// again, and the output stays byte for byte the same (see package
	// reuse). Write fills in Reuse.Stats. A plain image compresses nothing
	// and ignores it.
	Reuse *reuse.Base
}

// Write converts src into a qcow2 image written to dst, which must read as
// zeros wherever nothing is written (a new or truncated file). It returns
// the image's size; dst may need truncating to it only if it was longer.
func Write(ctx context.Context, dst io.WriterAt, src *rawdisk.Disk, o Options) (int64, error) {
	if src.Size() == 0 {
		return 0, errors.New("qcow2: the disk is empty")
	}
	w := &writer{
		dst:   dst,
		size:  (src.Size() + 511) &^ 511, // qemu addresses whole sectors
		l2:    map[int64][]uint64{},
		next:  1, // cluster 0 holds the header
		pack:  -1,
		level: o.Level,
	}
	w.refs = append(w.refs, 1)
	if w.level == 0 {
		w.level = DefaultLevel
	}
	scan := rawdisk.ScanOptions{BlockSize: clusterSize}
	var err error
	if o.Compress {
		err = w.writeCompressed(ctx, src, scan, o)
	} else {
		if o.Reuse != nil {
			o.Reuse.Stats.Ignored = "plain qcow2 stores clusters as they are: nothing to reuse"
		}
		err = src.ScanOverlapped(ctx, scan, w.writePlain)
	}
	if err != nil {
		return 0, fmt.Errorf("qcow2: %w", err)
	}
	size, err := w.finish()
	if err != nil {
		return 0, fmt.Errorf("qcow2: %w", err)
	}
	return size, nil
}

type writer struct {
	dst   io.WriterAt
	size  int64              // virtual size
	l2    map[int64][]uint64 // L2 tables by L1 index, made when first needed
	refs  []uint16           // refcount of every host cluster so far
	next  int64              // the next free host cluster
	level int

	// The host cluster compressed clusters are being packed into, and how
	// full it is; pack is -1 when there is none.
	pack     int64
	packFill int
	packBuf  [clusterSize]byte
}

// alloc takes n consecutive free host clusters, each referenced once.
func (w *writer) alloc(n int64) int64 {
	first := w.next
	w.next += n
	for range n {
		w.refs = append(w.refs, 1)
	}
	return first
}

// setL2 records the L2 entry for guest cluster idx.
func (w *writer) setL2(idx int64, entry uint64) {
	const perTable = clusterSize / 8
	t := w.l2[idx/perTable]
	if t == nil {
		t = make([]uint64, perTable)
		w.l2[idx/perTable] = t
	}
	t[idx%perTable] = entry
}

// writePlain stores every used cluster of a batch as is; consecutive ones
// land in consecutive host clusters and go out in one write.
func (w *writer) writePlain(b *rawdisk.Batch) error {
	defer b.Release()
	for i := 0; i < b.Blocks(); {
		if !b.Used(i) {
			i++
			continue
		}
		j := i
		for j < b.Blocks() && b.Used(j) {
			j++
		}
		host := w.alloc(int64(j - i))
		for k := i; k < j; k++ {
			w.setL2(b.Index(k), uint64(host+int64(k-i))<<clusterBits|flagCopied)
		}
		if _, err := w.dst.WriteAt(b.Data[i*clusterSize:j*clusterSize], host<<clusterBits); err != nil {
			return err
		}
		i = j
	}
	return nil
}

// compressJob is one batch on its way through the pipeline: its used
// clusters compressed into out, cluster i at out[ends[i-1]:ends[i]]; a
// cluster deflate cannot shrink is there as it is (storedForm).
type compressJob struct {
	b    *rawdisk.Batch
	out  []byte
	ends []int
}

func (w *writer) writeCompressed(ctx context.Context, src *rawdisk.Disk, scan rawdisk.ScanOptions, o Options) error {
	probe, err := deflate.NewEncoder(w.level)
	if err != nil {
		return err
	}
	ix, err := reuse.Prepare(ctx, o.Reuse, src, reuseFormat, storedForm(probe))
	if err != nil {
		return err
	}
	defer ix.Finish()
	encoders := sync.Pool{New: func() any {
		e, _ := deflate.NewEncoder(w.level) // level checked above
		return e
	}}
	p := pipeline.New(o.Workers, func(j *compressJob) error {
		e := encoders.Get().(*deflate.Encoder)
		defer encoders.Put(e)
		var err error
		j.out, j.ends, err = ix.AppendBatch(j.out, j.ends, j.b, storedForm(e))
		return err
	}, w.placeCompressed)
	scan.Known = ix.Known()
	err = src.Scan(ctx, scan, func(b *rawdisk.Batch) error {
		return p.Submit(&compressJob{b: b})
	})
	if cerr := p.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return w.flushPack()
}

// placeCompressed gives each cluster of a compressed batch its place, in
// guest order: packed byte by byte into shared host clusters, or stored
// whole when deflate could not make it smaller.
func (w *writer) placeCompressed(j *compressJob) error {
	defer j.b.Release()
	start := 0
	for i := range j.b.Blocks() {
		data := j.out[start:j.ends[i]]
		start = j.ends[i]
		if !j.b.Used(i) {
			continue
		}
		idx := j.b.Index(i)
		if len(data) >= clusterSize {
			// Stored whole: data is the cluster itself, copied from the
			// reuse image if the cluster was not read.
			if len(data) != clusterSize {
				return fmt.Errorf("cluster %d is stored in %d bytes, more than a cluster", idx, len(data))
			}
			host := w.alloc(1)
			w.setL2(idx, uint64(host)<<clusterBits|flagCopied)
			if _, err := w.dst.WriteAt(data, host<<clusterBits); err != nil {
				return err
			}
			continue
		}
		off, err := w.packBytes(data)
		if err != nil {
			return err
		}
		// x = 62 - (cluster_bits - 8): below it the byte offset, from it
		// the count of 512-byte sectors after the first.
		const x = 62 - (clusterBits - 8)
		sectors := uint64((off+int64(len(data))-1)>>9 - off>>9)
		w.setL2(idx, flagCompressed|sectors<<x|uint64(off))
	}
	return nil
}

// packBytes appends data to the packing cluster and returns its file
// offset. Compressed data may run on into the next host cluster only if
// that one is the next free cluster; otherwise (a whole cluster was
// stored in between) packing starts afresh in a new cluster.
func (w *writer) packBytes(data []byte) (int64, error) {
	if w.pack >= 0 && w.packFill+len(data) > clusterSize && w.pack+1 != w.next {
		if err := w.flushPack(); err != nil {
			return 0, err
		}
	}
	if w.pack < 0 {
		w.pack, w.packFill = w.next, 0
		w.alloc(1)
	}
	off := w.pack<<clusterBits + int64(w.packFill)
	// Every cluster this data touches gains a reference; the first one
	// was counted when allocated, unless earlier data already shares it.
	if w.packFill > 0 {
		w.refs[w.pack]++
	}
	for len(data) > 0 {
		n := copy(w.packBuf[w.packFill:], data)
		w.packFill += n
		data = data[n:]
		if w.packFill == clusterSize {
			if err := w.flushPack(); err != nil {
				return 0, err
			}
			if len(data) > 0 {
				w.pack, w.packFill = w.next, 0
				w.alloc(1)
			}
		}
	}
	return off, nil
}

// flushPack writes the packing cluster's bytes and closes it.
func (w *writer) flushPack() error {
	if w.pack < 0 {
		return nil
	}
	_, err := w.dst.WriteAt(w.packBuf[:w.packFill], w.pack<<clusterBits)
	w.pack = -1
	return err
}

// finish writes the metadata after the data: L2 tables, the L1 table, the
// refcount blocks and table, and finally the header.
func (w *writer) finish() (int64, error) {
	const perTable = clusterSize / 8
	clusters := (w.size + clusterSize - 1) / clusterSize
	l1 := make([]uint64, (clusters+perTable-1)/perTable)
	for _, idx := range slices.Sorted(maps.Keys(w.l2)) {
		host := w.alloc(1)
		l1[idx] = uint64(host)<<clusterBits | flagCopied
		if err := w.writeTable(host, w.l2[idx]); err != nil {
			return 0, err
		}
	}
	l1Host := w.alloc(clustersFor(int64(len(l1)) * 8))
	if err := w.writeTable(l1Host, l1); err != nil {
		return 0, err
	}

	// The refcount blocks and table count themselves too.
	const perBlock = clusterSize * 8 / (1 << refcountOrder)
	blocks, table := int64(0), int64(0)
	for {
		total := w.next + blocks + table
		nb := (total + perBlock - 1) / perBlock
		nt := clustersFor(nb * 8)
		if nb == blocks && nt == table {
			break
		}
		blocks, table = nb, nt
	}
	blockHost := w.alloc(blocks)
	tableHost := w.alloc(table)
	for b := range blocks {
		var buf [clusterSize]byte
		for i := range int64(perBlock) {
			if c := b*perBlock + i; c < int64(len(w.refs)) {
				binary.BigEndian.PutUint16(buf[2*i:], w.refs[c])
			}
		}
		if _, err := w.dst.WriteAt(buf[:], (blockHost+b)<<clusterBits); err != nil {
			return 0, err
		}
	}
	rt := make([]uint64, table*clusterSize/8)
	for b := range blocks {
		rt[b] = uint64(blockHost+b) << clusterBits
	}
	if err := w.writeTable(tableHost, rt); err != nil {
		return 0, err
	}

	h := header{
		Version:               3,
		ClusterBits:           clusterBits,
		Size:                  uint64(w.size),
		L1Size:                uint32(len(l1)),
		L1TableOffset:         uint64(l1Host) << clusterBits,
		RefcountTableOffset:   uint64(tableHost) << clusterBits,
		RefcountTableClusters: uint32(table),
		RefcountOrder:         refcountOrder,
		HeaderLength:          v3HeaderLength,
	}
	if _, err := w.dst.WriteAt(h.marshal(), 0); err != nil {
		return 0, err
	}
	return w.next << clusterBits, nil
}

// writeTable writes big-endian 64-bit entries at host cluster host, padded
// with zeros to whole clusters so the file ends on a cluster boundary.
func (w *writer) writeTable(host int64, entries []uint64) error {
	buf := make([]byte, clustersFor(int64(len(entries))*8)*clusterSize)
	for i, e := range entries {
		binary.BigEndian.PutUint64(buf[8*i:], e)
	}
	_, err := w.dst.WriteAt(buf, host<<clusterBits)
	return err
}

func clustersFor(bytes int64) int64 { return max(1, (bytes+clusterSize-1)/clusterSize) }
