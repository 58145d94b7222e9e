package deflate

import (
	"math"
	"testing"
)

func TestLog2Fixed(t *testing.T) {
	for _, v := range []uint32{1, 2, 3, 5, 100, 255, 256, 257, 1000, 65535, 1 << 20, 123456789} {
		got := float64(log2Fixed(v)) / 256
		if want := math.Log2(float64(v)); math.Abs(got-want) > 2.0/256 {
			t.Errorf("log2(%d) = %.4f, want %.4f", v, got, want)
		}
	}
}
