package deflate

import (
	"encoding/binary"
	"math/bits"
)

// The LZ77 stage: find, for each position, the longest earlier match
// within the 32 KiB window, with zlib's lazy evaluation (a match is taken
// only if the next position does not start a longer one). Matches of three
// bytes count, which is what lets zlib beat Go's four-byte-hash encoders on
// disk images full of binaries.

const (
	minMatch   = 3
	maxMatch   = 258
	windowSize = 1 << 15 // the largest distance deflate can express
	hashBits   = 16
	hashSize   = 1 << hashBits
	// The chain links form a ring of two windows: position i's link lives
	// in prev[i&prevMask] until position i+2*windowSize replaces it, long
	// after i is out of reach.
	prevSize = 2 * windowSize
	prevMask = prevSize - 1
	maxDist  = windowSize
	// tooFar: a three-byte match farther than this costs more bits than
	// three literals (zlib's TOO_FAR).
	tooFar = 4096
)

// levelParams are zlib's tuning knobs for one compression level.
type levelParams struct {
	good  int // shorten the chain search when the previous match is this long
	lazy  int // do not look for a better match after one this long
	nice  int // stop searching once a match this long is found
	chain int // candidates examined per position
	// skipInside, when set, leaves the positions inside matches longer
	// than lazy out of the hash chains: faster, slightly worse.
	skipInside bool
}

// levels follows zlib's configuration table, tuned on disk images: the
// block splitter (split.go) gains about 1% over zlib's fixed blocks, which
// lets level 6 search a quarter of zlib's chain and still come out smaller
// than zlib level 6. Levels 1-3 keep lazy matching (zlib goes greedy
// there) but skip hashing inside long matches, as zlib's greedy loop does.
var levels = [10]levelParams{
	1: {4, 4, 8, 4, true},
	2: {4, 5, 16, 8, true},
	3: {4, 6, 32, 32, true},
	4: {4, 4, 16, 16, false},
	5: {8, 16, 32, 32, false},
	6: {8, 16, 128, 32, false},
	7: {8, 32, 128, 128, false},
	8: {32, 128, 258, 1024, false},
	9: {32, 258, 258, 4096, false},
}

// Tokens: a literal is its byte value; a match sets matchFlag and packs
// length-3 above the distance-1.
const (
	matchFlag  = 1 << 31
	lengthShft = 16
)

func matchToken(length, dist int) uint32 {
	return matchFlag | uint32(length-minMatch)<<lengthShft | uint32(dist-1)
}

// matcher holds the hash chains. Nothing of one stream is visible to the
// next, so the same input always gives the same output.
type matcher struct {
	p levelParams
	// head holds base+position of the latest occurrence of each hash.
	// Raising base past everything stored forgets the previous stream
	// without clearing the table, which would cost more than hashing a
	// 64 KiB grain.
	head [hashSize]int32
	base int32
	n    int32 // the current stream's length
	// prev holds, for a position, how far back the previous occurrence of
	// its hash is (0: none within reach). Sixteen bits keep the ring small
	// enough to stay in cache.
	prev [prevSize]uint16
}

func hash3(b []byte, i int) uint32 {
	v := uint32(b[i])<<16 | uint32(b[i+1])<<8 | uint32(b[i+2])
	return (v * 0x9E3779B1) >> (32 - hashBits)
}

// reset starts a stream of n bytes (dictionary included).
func (m *matcher) reset(p levelParams, n int) {
	m.p = p
	// Every entry stored so far is below base+m.n: move base past them.
	// (Zeroed entries, before the first stream, are below base too.)
	if int64(m.base)+int64(m.n)+1+int64(n) >= 1<<31 {
		clear(m.head[:])
		m.base = 0
	}
	m.base += m.n + 1
	m.n = int32(n)
	// prev needs no clearing: every link read was written for this stream,
	// because the chain walk only visits positions inserted in it.
}

// insert records position i (which needs two bytes after it) and returns
// the latest earlier position with the same hash, or -1.
func (m *matcher) insert(buf []byte, i int) int {
	h := hash3(buf, i)
	earlier := int(m.head[h] - m.base) // negative: an earlier stream's
	m.head[h] = m.base + int32(i)
	link := uint16(0)
	if earlier >= 0 && i-earlier <= maxDist {
		link = uint16(i - earlier) // 32768 fits: 0 stays free for "none"
	}
	m.prev[i&prevMask] = link
	return earlier
}

// longest finds the longest match for position pos better than have,
// starting the search at candidate cand and looking no further back than
// lowest. It returns length 0 when none beats have.
func (m *matcher) longest(buf []byte, pos, cand, lowest, have int) (length, dist int) {
	limit := max(lowest, pos-maxDist)
	maxLen := min(maxMatch, len(buf)-pos)
	if maxLen < minMatch {
		return 0, 0
	}
	chain := m.p.chain
	if have >= m.p.good {
		chain >>= 2
	}
	nice := min(m.p.nice, maxLen)
	best := max(have, minMatch-1)
	if best >= maxLen {
		return 0, 0 // nothing longer fits
	}
	cur := buf[pos : pos+maxLen]
	// Cheap rejection first: a candidate must agree on the two bytes that
	// would end a longer match, and on the first two.
	start := binary.LittleEndian.Uint16(cur)
	end := binary.LittleEndian.Uint16(cur[best-1:])
	for cand >= limit && chain > 0 {
		c := buf[cand : cand+maxLen]
		if binary.LittleEndian.Uint16(c[best-1:]) == end && binary.LittleEndian.Uint16(c) == start {
			n := matchLen(c, cur)
			if n > best {
				best, dist = n, pos-cand
				if n >= nice {
					break
				}
				end = binary.LittleEndian.Uint16(cur[best-1:])
			}
		}
		step := int(m.prev[cand&prevMask])
		if step == 0 {
			break
		}
		cand -= step
		chain--
	}
	if best <= have || best < minMatch {
		return 0, 0
	}
	return best, dist
}

// matchLen counts how many leading bytes a and b share; b is no longer
// than a.
func matchLen(a, b []byte) int {
	max := len(b)
	a = a[:max]
	n := 0
	for n+8 <= max {
		x := binary.LittleEndian.Uint64(a[n:]) ^ binary.LittleEndian.Uint64(b[n:])
		if x != 0 {
			return n + bits.TrailingZeros64(x)>>3
		}
		n += 8
	}
	for n < max && a[n] == b[n] {
		n++
	}
	return n
}

// tokenize appends the tokens for buf[start:] to toks, with buf[:start]
// available as history (a preset dictionary).
func (m *matcher) tokenize(toks []uint32, buf []byte, start int) []uint32 {
	lowest := max(0, start-windowSize)
	for i := lowest; i < start && i+minMatch <= len(buf); i++ {
		m.insert(buf, i)
	}
	n := len(buf)
	prevLen, prevDist := 0, 0
	pending := false // buf[pos-1] is a literal or match start not yet emitted
	pos := start
	for pos < n {
		cand := -1
		if pos+minMatch <= n {
			cand = m.insert(buf, pos)
		}
		curLen, curDist := 0, 0
		if cand >= 0 && prevLen < m.p.lazy {
			curLen, curDist = m.longest(buf, pos, cand, lowest, prevLen)
			if curLen == minMatch && curDist > tooFar {
				curLen = 0
			}
		}
		if pending && prevLen >= minMatch && curLen <= prevLen {
			// The match starting at pos-1 wins: emit it, and hash the
			// positions it covers so later matches can refer to them.
			toks = append(toks, matchToken(prevLen, prevDist))
			end := pos - 1 + prevLen
			if !m.p.skipInside || prevLen <= m.p.lazy {
				for i := pos + 1; i < end && i+minMatch <= n; i++ {
					m.insert(buf, i)
				}
			}
			pos = end
			pending, prevLen = false, 0
			continue
		}
		if pending {
			toks = append(toks, uint32(buf[pos-1]))
		}
		pending, prevLen, prevDist = true, curLen, curDist
		pos++
	}
	if pending {
		toks = append(toks, uint32(buf[n-1]))
	}
	return toks
}
