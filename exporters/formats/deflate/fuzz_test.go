package deflate

import (
	"bytes"
	"compress/flate"
	"io"
	"testing"
)

// FuzzRoundTrip compresses arbitrary input at every level, with an
// arbitrary split into dictionary and data, and checks Go's inflater gives
// the input back.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("hello hello hello, deflate"), uint8(6), uint16(0))
	f.Add(testData(20000, 1), uint8(2), uint16(5000))
	f.Add(bytes.Repeat([]byte{0, 1, 2}, 3000), uint8(9), uint16(100))
	f.Fuzz(func(t *testing.T, data []byte, level uint8, cut uint16) {
		e, err := NewEncoder(1 + int(level)%9)
		if err != nil {
			t.Fatal(err)
		}
		split := int(cut) % (len(data) + 1)
		dict, src := data[:split], data[split:]
		out := e.AppendSegment(nil, dict, src, true)
		got, err := io.ReadAll(flate.NewReaderDict(bytes.NewReader(out), dict))
		if err != nil || !bytes.Equal(got, src) {
			t.Fatalf("level %d, %d+%d bytes: %v", 1+int(level)%9, len(dict), len(src), err)
		}
	})
}
