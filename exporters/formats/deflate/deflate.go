// Package deflate compresses independent blocks of a disk image (qcow2
// clusters, VMDK grains) and whole gzip streams on every core, with its own
// deflate encoder (RFC 1951). It is written for this job: output that
// depends on the input alone (encoder state is reset for every stream, so
// the same disk always gives the same bytes whatever the scheduling),
// three-byte matches and zlib's lazy matching, which on disk images full of
// binaries compress better than Go's four-byte-hash encoders. An Encoder
// belongs to one goroutine; make one per worker.
package deflate

import (
	"encoding/binary"
	"fmt"
	"hash/adler32"
)

// DefaultLevel compresses better than zlib's level 6 (what qemu-img uses)
// in less time; see the levels table.
const DefaultLevel = 6

// Encoder compresses one stream at a time. It keeps its buffers between
// calls so that compressing many blocks allocates nothing.
type Encoder struct {
	level int
	m     matcher
	bw    blockWriter
	buf   []byte   // dictionary + input, contiguous for the matcher
	toks  []uint32 // the LZ77 tokens of the current stream
	spans []span   // its blocks
}

// NewEncoder returns an encoder for a compression level from 1 (fastest)
// to 9 (smallest).
func NewEncoder(level int) (*Encoder, error) {
	if level < 1 || level > 9 {
		return nil, fmt.Errorf("compression level %d out of range 1-9", level)
	}
	return &Encoder{level: level}, nil
}

// AppendRaw appends src as a complete raw deflate stream (RFC 1951, final
// block included) to dst.
func (e *Encoder) AppendRaw(dst, src []byte) []byte {
	return e.appendStream(dst, nil, src, true)
}

// AppendZlib appends src as a zlib stream (RFC 1950: header, deflate data,
// Adler-32 of src) to dst.
func (e *Encoder) AppendZlib(dst, src []byte) []byte {
	// CMF 0x78: deflate with a 32 KiB window. FLG: the level hint, and the
	// check bits that make CMF*256+FLG a multiple of 31.
	cmf := byte(0x78)
	flg := levelHint(e.level) << 6
	flg |= byte((31 - (uint16(cmf)<<8|uint16(flg))%31) % 31)
	dst = e.appendStream(append(dst, cmf, flg), nil, src, true)
	return binary.BigEndian.AppendUint32(dst, adler32.Checksum(src))
}

// AppendSegment appends src as deflate blocks that continue a stream whose
// last 32 KiB of input was dict: back-references may reach into dict.
// Unless final, the segment ends with a sync flush (an empty stored block),
// on a byte boundary and without the final-block bit, so segments
// compressed separately concatenate into one valid stream.
func (e *Encoder) AppendSegment(dst, dict, src []byte, final bool) []byte {
	return e.appendStream(dst, dict, src, final)
}

func (e *Encoder) appendStream(dst, dict, src []byte, final bool) []byte {
	if len(dict) > windowSize {
		dict = dict[len(dict)-windowSize:]
	}
	e.buf = append(append(e.buf[:0], dict...), src...)
	e.m.reset(levels[e.level], len(e.buf))
	e.toks = e.m.tokenize(e.toks[:0], e.buf, len(dict))

	e.bw.bw = bitWriter{out: dst}
	raw := e.buf[len(dict):]
	toks := e.toks
	if len(toks) == 0 && final {
		// An empty stream is one empty final block.
		e.bw.writeBlock(&symStats{}, nil, nil, true)
	}
	if len(toks) > 0 {
		e.spans = splitBlocks(toks, e.spans)
		for i := range e.spans {
			s := &e.spans[i]
			covered := int(s.stats.bytes)
			e.bw.writeBlock(&s.stats, toks[:s.tokens], raw[:covered], final && s.tokens == len(toks))
			toks, raw = toks[s.tokens:], raw[covered:]
		}
	}
	if !final {
		e.bw.syncFlush()
	}
	e.bw.bw.align()
	return e.bw.bw.out
}

// levelHint is zlib's FLEVEL header field: 0 fastest ... 3 maximum.
func levelHint(level int) byte {
	switch {
	case level <= 1:
		return 0
	case level <= 5:
		return 1
	case level == 6:
		return 2
	default:
		return 3
	}
}
