package deflate

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"io"
	"math/rand/v2"
	"os/exec"
	"testing"
	"time"
)

// testData mixes what disks hold: random (incompressible) runs, text-like
// repetitive runs and zeros.
func testData(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	out := make([]byte, 0, n)
	words := [][]byte{[]byte("kubelet "), []byte("containerd "), []byte("\x7fELF\x02\x01\x01"), []byte("/usr/lib/x86_64-linux-gnu/")}
	for len(out) < n {
		switch rng.IntN(3) {
		case 0:
			run := make([]byte, rng.IntN(3000))
			for i := range run {
				run[i] = byte(rng.Uint32())
			}
			out = append(out, run...)
		case 1:
			for range rng.IntN(400) {
				out = append(out, words[rng.IntN(len(words))]...)
			}
		default:
			out = append(out, make([]byte, rng.IntN(5000))...)
		}
	}
	return out[:n]
}

func TestRawAndZlibRoundTrip(t *testing.T) {
	e, err := NewEncoder(DefaultLevel)
	if err != nil {
		t.Fatal(err)
	}
	for i, src := range [][]byte{nil, {0}, testData(64<<10, 1), testData(64<<10, 2), make([]byte, 64<<10)} {
		raw := e.AppendRaw([]byte("prefix"), src)
		if !bytes.HasPrefix(raw, []byte("prefix")) {
			t.Fatalf("case %d: AppendRaw dropped dst", i)
		}
		got, err := io.ReadAll(flate.NewReader(bytes.NewReader(raw[6:])))
		if err != nil || !bytes.Equal(got, src) {
			t.Fatalf("case %d: raw round trip: %v (got %d bytes, want %d)", i, err, len(got), len(src))
		}

		z := e.AppendZlib(nil, src)
		zr, err := zlib.NewReader(bytes.NewReader(z))
		if err != nil {
			t.Fatalf("case %d: zlib header rejected: %v", i, err)
		}
		got, err = io.ReadAll(zr) // checks the Adler-32 too
		if err != nil || !bytes.Equal(got, src) {
			t.Fatalf("case %d: zlib round trip: %v", i, err)
		}
	}
	if len(e.AppendRaw(nil, make([]byte, 64<<10))) > 200 {
		t.Error("a zero cluster should compress to almost nothing")
	}
}

func TestSegmentsConcatenate(t *testing.T) {
	src := testData(300<<10, 3)
	e, _ := NewEncoder(DefaultLevel)
	var stream []byte
	cuts := []int{0, 70 << 10, 71 << 10, 200 << 10, len(src)}
	for i := 0; i+1 < len(cuts); i++ {
		dict := src[max(0, cuts[i]-dictSize):cuts[i]]
		stream = e.AppendSegment(stream, dict, src[cuts[i]:cuts[i+1]], i+2 == len(cuts))
	}
	got, err := io.ReadAll(flate.NewReader(bytes.NewReader(stream)))
	if err != nil || !bytes.Equal(got, src) {
		t.Fatalf("concatenated segments: %v", err)
	}
}

func TestGzipWriterMakesOneMember(t *testing.T) {
	src := testData(5<<20+12345, 4)
	var out bytes.Buffer
	mtime := time.Unix(1700000000, 0)
	z, err := NewGzipWriter(&out, GzipOptions{Workers: 3, ModTime: mtime})
	if err != nil {
		t.Fatal(err)
	}
	// Odd write sizes cross segment boundaries at arbitrary points.
	for rest := src; len(rest) > 0; {
		n := min(len(rest), 777777)
		if _, err := z.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	rd := bytes.NewReader(out.Bytes())
	zr, err := gzip.NewReader(rd)
	if err != nil {
		t.Fatal(err)
	}
	zr.Multistream(false)
	got, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(got, src) {
		t.Fatalf("gunzip: %v (%d bytes, want %d)", err, len(got), len(src))
	}
	if !zr.ModTime.Equal(mtime) {
		t.Errorf("mtime %v, want %v", zr.ModTime, mtime)
	}
	if rd.Len() != 0 {
		t.Errorf("%d bytes follow the first gzip member", rd.Len())
	}
	if ratio := float64(out.Len()) / float64(len(src)); ratio > 0.8 {
		t.Errorf("ratio %.2f: segments are not compressing", ratio)
	}

	// The system gunzip agrees (CRC and length included).
	if _, err := exec.LookPath("gzip"); err == nil {
		cmd := exec.Command("gzip", "-dc")
		cmd.Stdin = bytes.NewReader(out.Bytes())
		sys, err := cmd.Output()
		if err != nil || !bytes.Equal(sys, src) {
			t.Fatalf("gzip -dc: %v", err)
		}
	}
}

func TestGzipWriterIsDeterministic(t *testing.T) {
	src := testData(3<<20, 5)
	gz := func(workers int) []byte {
		var out bytes.Buffer
		z, _ := NewGzipWriter(&out, GzipOptions{Workers: workers})
		z.Write(src)
		if err := z.Close(); err != nil {
			t.Fatal(err)
		}
		return out.Bytes()
	}
	if !bytes.Equal(gz(1), gz(4)) {
		t.Error("output depends on the number of workers")
	}
}

func TestNewEncoderRejectsBadLevel(t *testing.T) {
	for _, l := range []int{-1, 0, 10} {
		if _, err := NewEncoder(l); err == nil {
			t.Errorf("level %d accepted", l)
		}
	}
}
