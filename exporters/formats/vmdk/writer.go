package vmdk

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/strata-dev/strata/exporters/formats/deflate"
	"github.com/strata-dev/strata/exporters/formats/pipeline"
	"github.com/strata-dev/strata/exporters/formats/rawdisk"
	"github.com/strata-dev/strata/exporters/formats/reuse"
	"github.com/strata-dev/strata/exporters/ident"
)

// DefaultLevel is the deflate level for grains: smaller output than
// qemu-img's zlib level 6, in less time (see package deflate).
const DefaultLevel = deflate.DefaultLevel

// Options configures Write.
type Options struct {
	// Seed determines the descriptor's content IDs and UUID.
	Seed string
	// FileName is the extent's file name in the embedded descriptor
	// (default "disk.vmdk"); it should be the name the file is shipped
	// under.
	FileName string
	// AdapterType is the descriptor's ddb.adapterType (default "lsilogic").
	AdapterType string
	Level       int // 1-9 (0: DefaultLevel)
	Workers     int // 0: GOMAXPROCS
	// Reuse is an earlier conversion, by Write with the same Level, of a
	// disk the source mostly equals: grains whose raw bytes equal that
	// disk's are copied from it, not compressed again, and the output stays
	// byte for byte the same (see package reuse). The descriptor's options
	// (Seed, FileName, AdapterType) may differ. Write fills in Reuse.Stats.
	Reuse *reuse.Base
}

// Capacity is the virtual size a disk of size bytes gets: whole grains,
// since the format wants the capacity to be a multiple of the grain size.
func Capacity(size int64) int64 { return (size + grainBytes - 1) / grainBytes * grainBytes }

// Write streams src to w as a stream-optimized VMDK and returns the number
// of bytes written. w needs no seeking: the output may go straight into a
// pipe or an archive.
func Write(ctx context.Context, w io.Writer, src *rawdisk.Disk, o Options) (int64, error) {
	if o.FileName == "" {
		o.FileName = "disk.vmdk"
	}
	if o.AdapterType == "" {
		o.AdapterType = "lsilogic"
	}
	if o.Level == 0 {
		o.Level = DefaultLevel
	}
	if _, err := deflate.NewEncoder(o.Level); err != nil {
		return 0, fmt.Errorf("vmdk: %w", err)
	}
	capacity := Capacity(src.Size()) / sectorSize
	if capacity == 0 {
		return 0, fmt.Errorf("vmdk: the disk is empty")
	}
	desc := descriptor(capacity, o)
	if len(desc) > descriptorSectors*sectorSize {
		return 0, fmt.Errorf("vmdk: descriptor of %d bytes does not fit its %d sectors (file name too long?)", len(desc), descriptorSectors)
	}

	s := &stream{
		bw: bufio.NewWriterSize(w, 1<<20),
		gd: make([]uint32, (capacity/grainSectors+gtEntries-1)/gtEntries),
		hdr: header{
			Version:           streamVersion,
			Flags:             flagValidNewline | flagCompressed | flagMarkers,
			Capacity:          uint64(capacity),
			GrainSize:         grainSectors,
			DescriptorOffset:  descriptorOffset,
			DescriptorSize:    descriptorSectors,
			NumGTEsPerGT:      gtEntries,
			GDOffset:          gdAtEnd, // the footer has the real one
			OverHead:          overheadSectors,
			CompressAlgorithm: compressDeflate,
		},
	}
	s.put(s.hdr.marshal())
	s.put(padTo([]byte(desc), descriptorSectors*sectorSize))
	s.put(make([]byte, (overheadSectors-descriptorOffset-descriptorSectors)*sectorSize))

	if err := s.writeGrainsOf(ctx, src, o); err != nil {
		return s.n, fmt.Errorf("vmdk: %w", err)
	}
	return s.n, nil
}

// writeGrainsOf compresses the grains of src on o.Workers cores, copying
// those it can from o.Reuse, and writes them with their tables, then the
// rest of the stream.
func (s *stream) writeGrainsOf(ctx context.Context, src *rawdisk.Disk, o Options) error {
	probe, _ := deflate.NewEncoder(o.Level) // level checked by Write
	ix, err := reuse.Prepare(ctx, o.Reuse, src, reuseFormat, grainRecord(probe))
	if err != nil {
		return err
	}
	defer ix.Finish()
	encoders := sync.Pool{New: func() any {
		e, _ := deflate.NewEncoder(o.Level)
		return e
	}}
	p := pipeline.New(o.Workers, func(j *grainJob) error {
		e := encoders.Get().(*deflate.Encoder)
		defer encoders.Put(e)
		var err error
		j.out, j.ends, err = ix.AppendBatch(j.out, j.ends, j.b, grainRecord(e))
		return err
	}, s.writeGrains)
	err = src.Scan(ctx, rawdisk.ScanOptions{BlockSize: grainBytes}, func(b *rawdisk.Batch) error {
		return p.Submit(&grainJob{b: b})
	})
	if cerr := p.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return s.finish()
}

// descriptor is the embedded descriptor file. The IDs come from the seed:
// CID changes whenever content does in VMware's model, so derive it from
// something that identifies the content.
func descriptor(capacity int64, o Options) string {
	cid := ident.Uint32(o.Seed, "vmdk-cid")
	if cid >= 0xFFFFFFFE { // reserved: "no parent" and "disk full of zeros"
		cid &^= 0x10
	}
	long := ident.UUID(o.Seed, "vmdk-long-content-id")
	id := ident.UUID(o.Seed, "vmdk-uuid")
	cylinders := min(65535, (capacity+255*63-1)/(255*63))
	var uuid strings.Builder
	for i, b := range id {
		sep := " "
		if i == 8 {
			sep = "-"
		}
		if i > 0 {
			uuid.WriteString(sep)
		}
		fmt.Fprintf(&uuid, "%02x", b)
	}
	return fmt.Sprintf(`# Disk DescriptorFile
version=1
encoding="UTF-8"
CID=%08x
parentCID=ffffffff
createType="streamOptimized"

# Extent description
RW %d SPARSE %q

# The Disk Data Base
#DDB

ddb.adapterType = %q
ddb.geometry.cylinders = "%d"
ddb.geometry.heads = "255"
ddb.geometry.sectors = "63"
ddb.longContentID = "%x"
ddb.uuid = "%s"
ddb.virtualHWVersion = "4"
`, cid, capacity, o.FileName, o.AdapterType, cylinders, long[:], uuid.String())
}

// grainJob is a batch of grains: each used one becomes a grain marker
// (its LBA and compressed size), the zlib stream, and padding to a sector
// (grainRecord, padded by package reuse).
type grainJob struct {
	b    *rawdisk.Batch
	out  []byte
	ends []int // grain i's bytes end at out[ends[i]]
}

// grainRecord is the encoder the writer and package reuse share: a grain's
// marker and zlib stream, without the padding.
func grainRecord(e *deflate.Encoder) reuse.Encoder {
	return func(dst []byte, g int64, block []byte) []byte {
		start := len(dst)
		dst = binary.LittleEndian.AppendUint64(dst, uint64(g)*grainSectors)
		dst = append(dst, 0, 0, 0, 0) // size, filled in below
		dst = e.AppendZlib(dst, block)
		binary.LittleEndian.PutUint32(dst[start+8:], uint32(len(dst)-start-12))
		return dst
	}
}

// stream tracks the output: where it is (in sectors), the grain table
// being filled and the grain directory.
type stream struct {
	bw    *bufio.Writer
	n     int64 // bytes written
	err   error
	hdr   header
	gd    []uint32
	gt    [gtEntries]uint32
	curGT int // the grain table gt belongs to
}

func (s *stream) put(b []byte) {
	if s.err != nil {
		return
	}
	_, s.err = s.bw.Write(b)
	s.n += int64(len(b))
}

func (s *stream) sector() (uint32, error) {
	sec := s.n / sectorSize
	if sec > 0xFFFFFFFF {
		return 0, fmt.Errorf("stream outgrows the 32-bit sector offsets of grain tables")
	}
	return uint32(sec), nil
}

// writeGrains writes a compressed batch, closing the grain tables of the
// grains it has passed.
func (s *stream) writeGrains(j *grainJob) error {
	defer j.b.Release()
	start := 0
	for i := range j.b.Blocks() {
		data := j.out[start:j.ends[i]]
		start = j.ends[i]
		if len(data) == 0 {
			continue
		}
		g := j.b.Index(i)
		if err := s.closeTablesBefore(int(g / gtEntries)); err != nil {
			return err
		}
		sec, err := s.sector()
		if err != nil {
			return err
		}
		s.gt[g%gtEntries] = sec
		s.put(data)
	}
	return s.err
}

// closeTablesBefore writes the grain tables before table t: each one, even
// an empty one, follows its grains and gets a grain directory entry.
func (s *stream) closeTablesBefore(t int) error {
	for ; s.curGT < t; s.curGT++ {
		s.put(marker(gtSectors, markerGT))
		sec, err := s.sector()
		if err != nil {
			return err
		}
		s.gd[s.curGT] = sec
		b := make([]byte, gtSectors*sectorSize)
		for i, e := range s.gt {
			binary.LittleEndian.PutUint32(b[4*i:], e)
		}
		s.put(b)
		s.gt = [gtEntries]uint32{}
	}
	return s.err
}

// finish writes the remaining grain tables, the grain directory, the
// footer and the end-of-stream marker.
func (s *stream) finish() error {
	if err := s.closeTablesBefore(len(s.gd)); err != nil {
		return err
	}
	gdSectors := (len(s.gd)*4 + sectorSize - 1) / sectorSize
	s.put(marker(uint64(gdSectors), markerGD))
	gdSec, err := s.sector()
	if err != nil {
		return err
	}
	b := make([]byte, gdSectors*sectorSize)
	for i, e := range s.gd {
		binary.LittleEndian.PutUint32(b[4*i:], e)
	}
	s.put(b)
	s.put(marker(1, markerFooter))
	footer := s.hdr
	footer.GDOffset = uint64(gdSec)
	s.put(footer.marshal())
	s.put(marker(0, markerEOS))
	if s.err != nil {
		return s.err
	}
	return s.bw.Flush()
}

func padTo(b []byte, n int) []byte { return append(b, make([]byte, n-len(b))...) }
