package deflate

import (
	"bytes"
	"compress/flate"
	"io"
	"math/rand/v2"
	"testing"
)

// kraft sums 2^-len over the codes, in units of 2^-limit; a complete code
// sums to exactly 1<<limit.
func kraft(lens []uint8, limit int) uint64 {
	var sum uint64
	for _, l := range lens {
		if l > 0 {
			sum += 1 << (limit - int(l))
		}
	}
	return sum
}

func TestHuffmanLengthsAreCompleteAndLimited(t *testing.T) {
	var h huffman
	rng := rand.New(rand.NewPCG(7, 7))
	fib := make([]uint32, 30) // Fibonacci weights build the deepest trees
	fib[0], fib[1] = 1, 1
	for i := 2; i < len(fib); i++ {
		fib[i] = fib[i-1] + fib[i-2]
	}
	cases := map[string][]uint32{"fibonacci": fib}
	for i := range 50 {
		f := make([]uint32, 2+rng.IntN(numLitSyms-2))
		for j := range f {
			if rng.IntN(3) > 0 {
				f[j] = uint32(rng.ExpFloat64() * float64(1+rng.IntN(10000)))
			}
		}
		cases[string(rune('a'+i%26))+string(rune('0'+i/26))] = f
	}
	for name, freq := range cases {
		for _, limit := range []int{7, 15} {
			if limit == 7 {
				freq = freq[:min(len(freq), numCLSyms)] // the code length alphabet
			}
			lens := make([]uint8, len(freq))
			h.lengths(freq, limit, lens)
			used := 0
			for i, l := range lens {
				if (freq[i] > 0) != (l > 0) {
					t.Fatalf("%s: symbol %d freq %d got length %d", name, i, freq[i], l)
				}
				if int(l) > limit {
					t.Fatalf("%s: length %d over limit %d", name, l, limit)
				}
				if l > 0 {
					used++
				}
			}
			if used >= 2 && kraft(lens, limit) != 1<<limit {
				t.Fatalf("%s limit %d: code not complete (Kraft %d/%d)", name, limit, kraft(lens, limit), 1<<limit)
			}
		}
	}
}

func TestPackageMergeMatchesHuffmanWhenUnconstrained(t *testing.T) {
	freq := []uint32{5, 9, 12, 13, 16, 45}
	var h huffman
	want := make([]uint8, len(freq))
	h.lengths(freq, 15, want)
	keys := make([]uint64, len(freq))
	for i, f := range freq {
		keys[i] = uint64(f)<<16 | uint64(i)
	}
	got := make([]uint8, len(freq))
	packageMerge(keys, 15, got)
	cost := func(l []uint8) (c uint32) {
		for i := range l {
			c += freq[i] * uint32(l[i])
		}
		return c
	}
	if cost(got) != cost(want) {
		t.Fatalf("package-merge cost %d, Huffman cost %d", cost(got), cost(want))
	}
}

func TestEveryLevelRoundTrips(t *testing.T) {
	inputs := [][]byte{testData(200<<10, 11), bytes.Repeat([]byte("ab"), 40000), make([]byte, 70000)}
	for level := 1; level <= 9; level++ {
		e, err := NewEncoder(level)
		if err != nil {
			t.Fatal(err)
		}
		for i, src := range inputs {
			out := e.AppendRaw(nil, src)
			got, err := io.ReadAll(flate.NewReader(bytes.NewReader(out)))
			if err != nil || !bytes.Equal(got, src) {
				t.Fatalf("level %d input %d: %v", level, i, err)
			}
		}
	}
}

func TestEncoderStateDoesNotLeak(t *testing.T) {
	a, b := testData(64<<10, 21), testData(64<<10, 22)
	e, _ := NewEncoder(DefaultLevel)
	first := e.AppendRaw(nil, a)
	e.AppendRaw(nil, b)
	e.AppendSegment(nil, b, a, false)
	again := e.AppendRaw(nil, a)
	fresh, _ := NewEncoder(DefaultLevel)
	alone := fresh.AppendRaw(nil, a)
	// Near the end of the hash table's position space the table is
	// cleared; that must not change the output either.
	e.m.base = 1<<31 - 100000
	wrapped := e.AppendRaw(nil, a)
	if !bytes.Equal(first, again) || !bytes.Equal(first, alone) || !bytes.Equal(first, wrapped) {
		t.Fatal("the same input compressed differently depending on what came before")
	}
}
