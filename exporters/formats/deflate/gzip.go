package deflate

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"sync"
	"time"

	"github.com/strata-dev/strata/exporters/formats/pipeline"
)

const (
	// segmentSize is how much input one worker compresses at a time: big
	// enough that the sync flush ending each segment costs nothing
	// measurable, small enough to keep every core busy.
	segmentSize = 1 << 20
	// dictSize is deflate's window: each segment may refer back this far
	// into the one before, so cutting the input costs almost no ratio.
	dictSize = 32 << 10
)

// GzipOptions configures a GzipWriter.
type GzipOptions struct {
	Level   int       // 1-9; 0 means DefaultLevel
	Workers int       // 0 means GOMAXPROCS
	ModTime time.Time // the header's MTIME; zero writes 0 ("none")
}

// GzipWriter writes a single gzip member (RFC 1952) whose deflate stream
// is compressed on several cores: the input is cut into segments, each
// compressed with the 32 KiB before it as a preset dictionary and ended
// with a sync flush, and the segments are written in order. The result is
// one ordinary stream that any gunzip reads.
type GzipWriter struct {
	w        io.Writer
	pipe     *pipeline.Ordered[*segment]
	encoders sync.Pool
	free     chan []byte // segment buffers to reuse

	cur  []byte // the segment being filled
	tail []byte // the last dictSize bytes before cur
	crc  uint32
	size uint32 // input length modulo 2^32, as the trailer wants it

	closed bool
}

type segment struct {
	dict, src, out []byte
	final          bool
}

// NewGzipWriter starts a gzip stream on w.
func NewGzipWriter(w io.Writer, o GzipOptions) (*GzipWriter, error) {
	level := o.Level
	if level == 0 {
		level = DefaultLevel
	}
	if _, err := NewEncoder(level); err != nil {
		return nil, err
	}
	z := &GzipWriter{w: w}
	z.encoders.New = func() any {
		e, _ := NewEncoder(level) // level checked above
		return e
	}
	z.free = make(chan []byte, 16)
	z.pipe = pipeline.New(o.Workers, z.compress, z.emit)
	z.cur = z.buffer()

	hdr := []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl(level), 3} // OS 3: Unix
	if !o.ModTime.IsZero() && o.ModTime.Unix() > 0 {
		binary.LittleEndian.PutUint32(hdr[4:8], uint32(o.ModTime.Unix()))
	}
	if _, err := w.Write(hdr); err != nil {
		return nil, err
	}
	return z, nil
}

// xfl is the header's extra-flags hint: 2 for the slowest levels, 4 for
// the fastest.
func xfl(level int) byte {
	switch {
	case level >= 9:
		return 2
	case level == 1:
		return 4
	default:
		return 0
	}
}

// Write compresses p. It may return before p is compressed; errors from
// the background work come back from a later Write or from Close.
func (z *GzipWriter) Write(p []byte) (int, error) {
	if z.closed {
		return 0, errors.New("gzip: write after close")
	}
	z.crc = crc32.Update(z.crc, crc32.IEEETable, p)
	z.size += uint32(len(p))
	n := len(p)
	for len(p) > 0 {
		room := segmentSize - len(z.cur)
		take := min(room, len(p))
		z.cur = append(z.cur, p[:take]...)
		p = p[take:]
		if len(z.cur) == segmentSize {
			if err := z.submit(false); err != nil {
				return n - len(p), err
			}
		}
	}
	return n, z.pipe.Err()
}

// submit hands the filled segment to the workers and starts the next.
func (z *GzipWriter) submit(final bool) error {
	s := &segment{src: z.cur, final: final, dict: z.tail}
	// The next segment's dictionary is the tail of this one's input,
	// copied because this buffer goes back to the pool once compressed.
	if !final {
		from := max(0, len(z.cur)-dictSize)
		z.tail = append([]byte(nil), z.cur[from:]...)
		z.cur = z.buffer()
	}
	return z.pipe.Submit(s)
}

func (z *GzipWriter) buffer() []byte {
	select {
	case b := <-z.free:
		return b[:0]
	default:
		return make([]byte, 0, segmentSize)
	}
}

func (z *GzipWriter) compress(s *segment) error {
	e := z.encoders.Get().(*Encoder)
	defer z.encoders.Put(e)
	s.out = e.AppendSegment(nil, s.dict, s.src, s.final)
	return nil
}

func (z *GzipWriter) emit(s *segment) error {
	select {
	case z.free <- s.src:
	default:
	}
	_, err := z.w.Write(s.out)
	return err
}

// Close compresses what is left, ends the deflate stream and writes the
// trailer. It does not close the underlying writer.
func (z *GzipWriter) Close() error {
	if z.closed {
		return nil
	}
	z.closed = true
	if err := z.submit(true); err != nil {
		z.pipe.Close()
		return err
	}
	if err := z.pipe.Close(); err != nil {
		return err
	}
	var trailer [8]byte
	binary.LittleEndian.PutUint32(trailer[0:4], z.crc)
	binary.LittleEndian.PutUint32(trailer[4:8], z.size)
	_, err := z.w.Write(trailer[:])
	return err
}
