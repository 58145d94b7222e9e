package disk

import (
	"testing"
	"time"
)

func TestFATDateTime(t *testing.T) {
	for _, tc := range []struct {
		in          time.Time
		date, clock uint16
	}{
		// 2023-11-14 22:13:20 UTC: (43<<9 | 11<<5 | 14), (22<<11 | 13<<5 | 10)
		{time.Unix(1700000000, 0), 43<<9 | 11<<5 | 14, 22<<11 | 13<<5 | 10},
		// Odd seconds round down to FAT's 2-second resolution.
		{time.Date(2000, 2, 29, 1, 2, 3, 0, time.UTC), 20<<9 | 2<<5 | 29, 1<<11 | 2<<5 | 1},
		// Before 1980 clamps to 1980-01-01 00:00:00.
		{time.Unix(0, 0), 0<<9 | 1<<5 | 1, 0},
		// A non-UTC zone is converted, not taken at face value.
		{time.Date(2024, 1, 1, 1, 0, 0, 0, time.FixedZone("X", 2*3600)), 43<<9 | 12<<5 | 31, 23 << 11},
	} {
		d, c := fatDateTime(tc.in)
		if d != tc.date || c != tc.clock {
			t.Errorf("%v: date %#x clock %#x, want %#x %#x", tc.in, d, c, tc.date, tc.clock)
		}
	}
}
