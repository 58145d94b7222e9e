package deflate

import "encoding/binary"

// The block stage: turn tokens into deflate blocks (RFC 1951 section 3.2),
// each stored, with the fixed codes or with its own dynamic codes,
// whichever is smallest.

const (
	endOfBlock  = 256
	numLitSyms  = 286
	numDistSyms = 30
	numCLSyms   = 19
)

var (
	lengthCode  [maxMatch - minMatch + 1]uint8 // length-3 -> code 0..28
	lengthBase  = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lengthExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase    = [30]uint16{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra   = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
	// distCodeLow maps dist-1 < 256 to its code; distCodeHigh maps
	// (dist-1)>>7 for larger distances.
	distCodeLow, distCodeHigh [256]uint8
	// clOrder is the order code length code lengths are sent in.
	clOrder = [numCLSyms]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

	fixedLitLens  [numLitSyms + 2]uint8
	fixedLitCodes [numLitSyms + 2]uint16
	fixedDistCode [numDistSyms]uint16
)

func init() {
	for code := range lengthBase {
		end := maxMatch + 1
		if code+1 < len(lengthBase) {
			end = int(lengthBase[code+1])
		}
		for l := int(lengthBase[code]); l < end; l++ {
			lengthCode[l-minMatch] = uint8(code)
		}
	}
	lengthCode[maxMatch-minMatch] = 28 // 258 has its own code
	for code := range distBase {
		end := int(distBase[code]) + 1<<distExtra[code]
		for d := int(distBase[code]); d < end; d++ {
			if d-1 < 256 {
				distCodeLow[d-1] = uint8(code)
			} else {
				distCodeHigh[(d-1)>>7] = uint8(code)
			}
		}
	}
	for sym := range fixedLitLens {
		switch {
		case sym < 144:
			fixedLitLens[sym] = 8
		case sym < 256:
			fixedLitLens[sym] = 9
		case sym < 280:
			fixedLitLens[sym] = 7
		default:
			fixedLitLens[sym] = 8
		}
	}
	canonical(fixedLitLens[:], fixedLitCodes[:])
	var distLens [numDistSyms]uint8
	for i := range distLens {
		distLens[i] = 5
	}
	canonical(distLens[:], fixedDistCode[:])
}

func distCode(dist int) uint8 {
	if dist-1 < 256 {
		return distCodeLow[dist-1]
	}
	return distCodeHigh[(dist-1)>>7]
}

// bitWriter appends bits least significant first, as deflate wants.
type bitWriter struct {
	out  []byte
	acc  uint64
	nacc uint
}

func (w *bitWriter) put(v uint64, n uint) {
	w.acc |= v << w.nacc
	w.nacc += n
	if w.nacc >= 48 {
		n := len(w.out)
		w.out = binary.LittleEndian.AppendUint64(w.out, w.acc)[:n+6]
		w.acc >>= 48
		w.nacc -= 48
	}
}

// align pads with zero bits to a byte boundary and flushes.
func (w *bitWriter) align() {
	for w.nacc > 0 {
		w.out = append(w.out, byte(w.acc))
		w.acc >>= 8
		w.nacc -= min(w.nacc, 8)
	}
	w.acc = 0
}

// blockWriter encodes blocks; it keeps scratch space between blocks.
type blockWriter struct {
	bw       bitWriter
	h        huffman
	litFreq  [numLitSyms]uint32
	distFreq [numDistSyms]uint32
	clFreq   [numCLSyms]uint32
	litLens  [numLitSyms]uint8
	distLens [numDistSyms]uint8
	clLens   [numCLSyms]uint8
	litCodes [numLitSyms]uint16
	distCode [numDistSyms]uint16
	clCodes  [numCLSyms]uint16
	rle      []uint16 // code length symbols, with their repeat counts <<5
}

// writeBlock encodes toks, which stand for the bytes raw and whose
// statistics are st, as one block.
func (b *blockWriter) writeBlock(st *symStats, toks []uint32, raw []byte, final bool) {
	b.litFreq, b.distFreq = st.lit, st.dist
	extraBits := int(st.extra) // the same in any coding
	b.litFreq[endOfBlock] = 1

	// Dynamic codes. Every inflater accepts two distance codes; some
	// reject a lone one, so pad with unused symbols as zlib does.
	b.h.lengths(b.litFreq[:], 15, b.litLens[:])
	padToTwoCodes(b.distFreq[:])
	b.h.lengths(b.distFreq[:], 15, b.distLens[:])
	nlit, ndist := numLitSyms, numDistSyms
	for nlit > 257 && b.litLens[nlit-1] == 0 {
		nlit--
	}
	for ndist > 1 && b.distLens[ndist-1] == 0 {
		ndist--
	}
	b.runLengths(nlit, ndist)
	// zlib rejects an incomplete code length code, and one symbol alone
	// makes one; pad with an unused symbol if ever it comes to that.
	padToTwoCodes(b.clFreq[:])
	b.h.lengths(b.clFreq[:], 7, b.clLens[:])
	ncl := numCLSyms
	for ncl > 4 && b.clLens[clOrder[ncl-1]] == 0 {
		ncl--
	}

	dynamic := 3 + 5 + 5 + 4 + 3*ncl + extraBits
	for _, r := range b.rle {
		sym := r & 0x1f
		dynamic += int(b.clLens[sym]) + clExtraBits(sym)
	}
	fixed := 3 + extraBits
	for sym, f := range b.litFreq {
		dynamic += int(f) * int(b.litLens[sym])
		fixed += int(f) * int(fixedLitLens[sym])
	}
	for sym, f := range b.distFreq {
		dynamic += int(f) * int(b.distLens[sym])
		fixed += int(f) * 5
	}
	stored := 3 + 7 + 32*((len(raw)+0xfffe)/0xffff) + 8*len(raw)

	switch {
	case stored < dynamic && stored < fixed:
		b.writeStored(raw, final)
	case fixed <= dynamic:
		b.bw.put(uint64(btoi(final))|1<<1, 3)
		b.writeTokens(toks, fixedLitCodes[:], fixedLitLens[:], fixedDistCode[:], nil)
	default:
		b.bw.put(uint64(btoi(final))|2<<1, 3)
		b.writeHeader(nlit, ndist, ncl)
		canonical(b.litLens[:], b.litCodes[:])
		canonical(b.distLens[:], b.distCode[:])
		b.writeTokens(toks, b.litCodes[:], b.litLens[:], b.distCode[:], b.distLens[:])
	}
}

// padToTwoCodes gives unused symbols a count of one until at least two
// symbols have codes.
func padToTwoCodes(freq []uint32) {
	used := 0
	for _, f := range freq {
		if f > 0 {
			used++
		}
	}
	for sym := 0; used < 2; sym++ {
		if freq[sym] == 0 {
			freq[sym] = 1
			used++
		}
	}
}

// clExtraBits is how many bits follow a code length symbol.
func clExtraBits(sym uint16) int {
	switch sym {
	case 16:
		return 2
	case 17:
		return 3
	case 18:
		return 7
	}
	return 0
}

func btoi(v bool) int {
	if v {
		return 1
	}
	return 0
}

// writeStored emits raw as stored blocks of at most 65535 bytes.
func (b *blockWriter) writeStored(raw []byte, final bool) {
	for first := true; first || len(raw) > 0; first = false {
		n := min(len(raw), 0xffff)
		last := final && n == len(raw)
		b.bw.put(uint64(btoi(last)), 3) // BTYPE 00
		b.bw.align()
		b.bw.out = binary.LittleEndian.AppendUint16(b.bw.out, uint16(n))
		b.bw.out = binary.LittleEndian.AppendUint16(b.bw.out, ^uint16(n))
		b.bw.out = append(b.bw.out, raw[:n]...)
		raw = raw[n:]
	}
}

// syncFlush emits an empty stored block, leaving the stream on a byte
// boundary with no final block, so another segment may follow.
func (b *blockWriter) syncFlush() {
	b.writeStored(nil, false)
}

// runLengths codes the literal/length and distance code lengths with the
// repeat symbols 16 (previous, 3-6 times), 17 (zero, 3-10) and 18 (zero,
// 11-138), and counts the symbols used.
func (b *blockWriter) runLengths(nlit, ndist int) {
	var all [numLitSyms + numDistSyms]uint8
	n := copy(all[:], b.litLens[:nlit])
	n += copy(all[n:], b.distLens[:ndist])
	lens := all[:n]
	clear(b.clFreq[:])
	b.rle = b.rle[:0]
	emit := func(sym uint16, repeat int) {
		b.rle = append(b.rle, sym|uint16(repeat)<<5)
		b.clFreq[sym]++
	}
	for i := 0; i < len(lens); {
		l := lens[i]
		run := 1
		for i+run < len(lens) && lens[i+run] == l {
			run++
		}
		i += run
		if l == 0 {
			for run >= 11 {
				r := min(run, 138)
				emit(18, r)
				run -= r
			}
			if run >= 3 {
				emit(17, run)
				run = 0
			}
		} else {
			emit(uint16(l), 0)
			run--
			for run >= 3 {
				r := min(run, 6)
				emit(16, r)
				run -= r
			}
		}
		for ; run > 0; run-- {
			emit(uint16(l), 0)
		}
	}
}

func (b *blockWriter) writeHeader(nlit, ndist, ncl int) {
	canonical(b.clLens[:], b.clCodes[:])
	b.bw.put(uint64(nlit-257), 5)
	b.bw.put(uint64(ndist-1), 5)
	b.bw.put(uint64(ncl-4), 4)
	for _, sym := range clOrder[:ncl] {
		b.bw.put(uint64(b.clLens[sym]), 3)
	}
	for _, r := range b.rle {
		sym, repeat := r&0x1f, uint64(r>>5)
		b.bw.put(uint64(b.clCodes[sym]), uint(b.clLens[sym]))
		switch sym {
		case 16:
			b.bw.put(repeat-3, 2)
		case 17:
			b.bw.put(repeat-3, 3)
		case 18:
			b.bw.put(repeat-11, 7)
		}
	}
}

// writeTokens emits the tokens and the end-of-block code. distLens nil
// means the fixed distance code (five bits each).
func (b *blockWriter) writeTokens(toks []uint32, litCodes []uint16, litLens []uint8, distCodes []uint16, distLens []uint8) {
	w := &b.bw
	for _, t := range toks {
		if t&matchFlag == 0 {
			w.put(uint64(litCodes[t]), uint(litLens[t]))
			continue
		}
		l := int(t>>lengthShft)&0x1ff + minMatch
		lc := lengthCode[l-minMatch]
		sym := 257 + int(lc)
		w.put(uint64(litCodes[sym]), uint(litLens[sym]))
		if e := lengthExtra[lc]; e > 0 {
			w.put(uint64(l-int(lengthBase[lc])), uint(e))
		}
		dist := int(t&0xffff) + 1
		dc := distCode(dist)
		dl := uint(5)
		if distLens != nil {
			dl = uint(distLens[dc])
		}
		w.put(uint64(distCodes[dc]), dl)
		if e := distExtra[dc]; e > 0 {
			w.put(uint64(dist-int(distBase[dc])), uint(e))
		}
	}
	w.put(uint64(litCodes[endOfBlock]), uint(litLens[endOfBlock]))
}
