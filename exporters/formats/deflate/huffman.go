package deflate

import (
	"math/bits"
	"slices"
)

// huffman holds scratch space for building length-limited canonical
// Huffman codes (RFC 1951 section 3.2.2) without allocating.
type huffman struct {
	keys   [maxLitSyms]uint64 // frequency<<16 | symbol, sorted
	weight [2 * maxLitSyms]uint64
	parent [2 * maxLitSyms]int32
	count  [maxBitsLimit + 1]int32 // codes per length
}

const (
	maxLitSyms   = 286
	maxBitsLimit = 15
)

// lengths fills lens with code lengths for freq, none longer than limit.
// Symbols with zero frequency get length 0. Ties are broken by symbol
// number, so the result depends on the frequencies alone.
func (h *huffman) lengths(freq []uint32, limit int, lens []uint8) {
	clear(lens[:len(freq)])
	n := 0
	for sym, f := range freq {
		if f > 0 {
			h.keys[n] = uint64(f)<<16 | uint64(sym)
			n++
		}
	}
	switch n {
	case 0:
		return
	case 1:
		lens[h.keys[0]&0xffff] = 1
		return
	}
	keys := h.keys[:n]
	slices.Sort(keys)

	// Two-queue Huffman: leaves 0..n-1 in ascending weight, internal nodes
	// n.. created in ascending weight too, so the two lightest nodes are
	// always at the front of one queue or the other.
	for i, k := range keys {
		h.weight[i] = k >> 16
	}
	leaf, node, next := 0, n, n
	pick := func() int {
		if leaf < n && (node >= next || h.weight[leaf] <= h.weight[node]) {
			leaf++
			return leaf - 1
		}
		node++
		return node - 1
	}
	for next < 2*n-1 {
		a, b := pick(), pick()
		h.weight[next] = h.weight[a] + h.weight[b]
		h.parent[a], h.parent[b] = int32(next), int32(next)
		next++
	}

	// Depths, top-down: a node's parent always has a higher index, so
	// weight[] can be reused to hold the depth of nodes already visited.
	clear(h.count[:])
	root := 2*n - 2
	h.weight[root] = 0
	for i := root - 1; i >= 0; i-- {
		d := h.weight[h.parent[i]] + 1
		h.weight[i] = d
		if i < n {
			if d > uint64(limit) {
				// Too deep for deflate: fall back to the slower optimal
				// length-limited construction.
				packageMerge(keys, limit, lens)
				return
			}
			h.count[d]++
		}
	}

	// Hand out the lengths: the rarest symbols get the longest codes.
	i := 0
	for l := limit; l >= 1; l-- {
		for c := h.count[l]; c > 0; c-- {
			lens[keys[i]&0xffff] = uint8(l)
			i++
		}
	}
}

// packageMerge computes optimal code lengths no longer than limit for the
// symbols in keys (frequency<<16 | symbol, sorted ascending), by the
// package-merge algorithm. It always yields a complete code, which every
// inflater insists on. Huffman trees that deep are rare, so this path may
// allocate. There must be at most 1<<limit symbols, which deflate's
// alphabets guarantee.
func packageMerge(keys []uint64, limit int, lens []uint8) {
	type item struct {
		weight uint64
		leaf   int // index into keys, or -1 for a package
	}
	n := len(keys)
	leaves := make([]item, n)
	for i, k := range keys {
		leaves[i] = item{k >> 16, i}
	}
	// lists[0] is the deepest level: leaves only. Each level up merges the
	// leaves with the pairs (packages) of the level below.
	lists := make([][]item, limit)
	lists[0] = leaves
	for lvl := 1; lvl < limit; lvl++ {
		below := lists[lvl-1]
		merged := make([]item, 0, n+len(below)/2)
		li := 0
		for p := 0; p+1 < len(below); p += 2 {
			w := below[p].weight + below[p+1].weight
			for li < n && leaves[li].weight <= w {
				merged = append(merged, leaves[li])
				li++
			}
			merged = append(merged, item{w, -1})
		}
		merged = append(merged, leaves[li:]...)
		lists[lvl] = merged
	}
	// Take the 2n-2 cheapest items at the top; every leaf among the chosen
	// items at a level adds one bit to its code, and every chosen package
	// chooses two items from the level below.
	lengths := make([]uint8, n)
	take := 2*n - 2
	for lvl := limit - 1; lvl >= 0 && take > 0; lvl-- {
		packages := 0
		for _, it := range lists[lvl][:take] {
			if it.leaf >= 0 {
				lengths[it.leaf]++
			} else {
				packages++
			}
		}
		take = 2 * packages
	}
	for i, k := range keys {
		lens[k&0xffff] = lengths[i]
	}
}

// canonical assigns canonical codes to lens, bit-reversed for deflate's
// LSB-first bit order.
func canonical(lens []uint8, codes []uint16) {
	var count [maxBitsLimit + 1]uint16
	for _, l := range lens {
		count[l]++
	}
	count[0] = 0
	var next [maxBitsLimit + 1]uint16
	code := uint16(0)
	for l := 1; l <= maxBitsLimit; l++ {
		code = (code + count[l-1]) << 1
		next[l] = code
	}
	for sym, l := range lens {
		if l == 0 {
			codes[sym] = 0
			continue
		}
		codes[sym] = bits.Reverse16(next[l]) >> (16 - l)
		next[l]++
	}
}
