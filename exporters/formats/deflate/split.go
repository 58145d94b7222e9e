package deflate

import "math/bits"

// Where to end blocks. Each dynamic block pays for its code table, but
// codes that follow the data's changing statistics (ELF headers, then
// machine code, then string tables) save more than that. The splitter cuts
// the tokens into small chunks and greedily grows a block while adding the
// next chunk is estimated to cost less than starting afresh.

const (
	chunkTokens = 1024
	// headerBitsFixed and headerBitsPerSym estimate a dynamic block's code
	// table: the fixed fields plus a few bits per symbol that has a code.
	headerBitsFixed  = 70
	headerBitsPerSym = 4
)

// symStats are a chunk's or block's symbol counts, and what else the
// block writer needs to know of its tokens.
type symStats struct {
	lit   [numLitSyms]uint32
	dist  [numDistSyms]uint32
	n     uint32 // total symbols
	extra uint32 // length and distance extra bits
	bytes uint32 // input bytes the tokens stand for
}

func (s *symStats) add(toks []uint32) {
	for _, t := range toks {
		if t&matchFlag == 0 {
			s.lit[t]++
			s.bytes++
			continue
		}
		l := (t >> lengthShft) & 0x1ff
		lc := lengthCode[l]
		dc := distCode(int(t&0xffff) + 1)
		s.lit[257+int(lc)]++
		s.dist[dc]++
		s.extra += uint32(lengthExtra[lc]) + uint32(distExtra[dc])
		s.bytes += l + minMatch
	}
	s.n += uint32(len(toks))
}

func (s *symStats) merge(o *symStats) {
	for i := range s.lit {
		s.lit[i] += o.lit[i]
	}
	for i := range s.dist {
		s.dist[i] += o.dist[i]
	}
	s.n += o.n
	s.extra += o.extra
	s.bytes += o.bytes
}

// estimate is the block's size in 1/256 bits by Shannon entropy, plus
// the estimated code table. Extra bits are left out: they are the same
// however the tokens are split.
func (s *symStats) estimate() int64 {
	return entropy(s.lit[:]) + entropy(s.dist[:])
}

func entropy(freq []uint32) int64 {
	total, used := uint32(0), 0
	for _, f := range freq {
		total += f
		if f > 0 {
			used++
		}
	}
	if total == 0 {
		return 0
	}
	lt := log2Fixed(total)
	var sum int64
	for _, f := range freq {
		if f > 0 {
			sum += int64(f) * int64(lt-log2Fixed(f))
		}
	}
	return sum + int64(headerBitsPerSym*used)<<8
}

// log2Fixed is log2(v) in 8.8 fixed point, good to about 1/256.
func log2Fixed(v uint32) int32 {
	n := bits.Len32(v) - 1
	var frac uint32
	if n >= 8 {
		frac = (v >> (n - 8)) & 0xff
	} else {
		frac = (v << (8 - n)) & 0xff
	}
	return int32(n)<<8 + int32(log2Frac[frac])
}

// log2Frac[i] is log2(1 + i/256) in 1/256 units.
var log2Frac = func() (t [256]uint8) {
	// Integer arithmetic only, so no platform's float rounding can change
	// a split (and the output): the classic bit-by-bit logarithm, squaring
	// y in [1,2) and taking a bit whenever the square reaches 2.
	for i := range t {
		y := uint64(256+i) << 8 // 1+i/256 in 16.16 fixed point
		k := 0
		for bit := 7; bit >= 0; bit-- {
			y = y * y >> 16
			if y >= 2<<16 {
				y >>= 1
				k |= 1 << bit
			}
		}
		t[i] = uint8(k)
	}
	return t
}()

// span is one block the splitter chose: its token count and statistics.
type span struct {
	tokens int
	stats  symStats
}

// splitBlocks returns consecutive blocks for toks, reusing spans.
func splitBlocks(toks []uint32, spans []span) []span {
	spans = spans[:0]
	if len(toks) <= chunkTokens {
		spans = append(spans, span{tokens: len(toks)})
		spans[0].stats.add(toks)
		return spans
	}
	var block, chunk, both symStats
	blockLen := 0
	for start := 0; start < len(toks); start += chunkTokens {
		end := min(start+chunkTokens, len(toks))
		chunk = symStats{}
		chunk.add(toks[start:end])
		if blockLen == 0 {
			block, blockLen = chunk, end-start
			continue
		}
		both = block
		both.merge(&chunk)
		apart := block.estimate() + chunk.estimate() + headerBitsFixed<<8
		if both.estimate() <= apart && blockLen+end-start <= 1<<16 {
			block, blockLen = both, blockLen+end-start
			continue
		}
		spans = append(spans, span{tokens: blockLen, stats: block})
		block, blockLen = chunk, end-start
	}
	return append(spans, span{tokens: blockLen, stats: block})
}
