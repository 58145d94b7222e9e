package vmdk

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/strata-dev/strata/exporters/formats/internal/testdisk"
)

func TestReuseIsByteIdentical(t *testing.T) {
	base, derived := testdisk.Related(t, synthSize)
	// The descriptor's options do not matter to the grains.
	baseImg := convert(t, base, Options{Seed: "base", FileName: "base.vmdk"})
	fresh := convert(t, derived, Options{Seed: "s"})
	for _, workers := range []int{1, 4} {
		b := testdisk.OpenBase(t, base, baseImg)
		got := convert(t, derived, Options{Seed: "s", Workers: workers, Reuse: b})
		testdisk.CheckReused(t, fresh, got, b.Stats)
	}
	testdisk.NeedQemuImg(t)
	testdisk.QemuCompare(t, derived, fresh, "vmdk")
}

// TestReuseIgnoresWrongImages pairs the base raw disk with images that are
// not its conversion: each must be ignored with a reason, or its grains
// refused one by one, and the output must stay what it is without reuse.
func TestReuseIgnoresWrongImages(t *testing.T) {
	base, derived := testdisk.Related(t, synthSize)
	dir := t.TempDir()
	other := testdisk.Synthetic(t, dir, synthSize, 5)
	smaller := testdisk.Synthetic(t, dir, synthSize-grainBytes, 1)
	baseImg := convert(t, base, Options{})
	corrupt := filepath.Join(dir, "corrupt.vmdk")
	data, _ := os.ReadFile(baseImg)
	if err := os.WriteFile(corrupt, data[:len(data)-3*sectorSize], 0o644); err != nil {
		t.Fatal(err)
	}
	fresh := convert(t, derived, Options{})

	cases := []struct {
		name, raw, image string
		perGrain         bool // caught grain by grain, not up front
	}{
		{"another disk's image", base, convert(t, other, Options{}), false},
		{"another size", smaller, convert(t, smaller, Options{}), false},
		{"another level", base, convert(t, base, Options{Level: 1}), false},
		{"truncated", base, corrupt, false},
		{"raw disk", base, base, false},
		// One grain changed in place: the layout and, most likely, the
		// sample hold, but the grain's Adler-32 does not.
		{"same layout, one grain changed", base, convert(t, testdisk.Derived(t, dir, base, testdisk.Change{Seed: 9, Rewrites: 1}), Options{}), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := testdisk.OpenBase(t, c.raw, c.image)
			testdisk.SameFile(t, fresh, convert(t, derived, Options{Reuse: b}))
			s := b.Stats
			t.Logf("%+v", s)
			if c.perGrain && s.Ignored == "" {
				if s.Mismatched == 0 {
					t.Errorf("changed grain copied: %+v", s)
				}
				return
			}
			if s.Ignored == "" || s.Reused != 0 {
				t.Errorf("wrong image used: %+v", s)
			}
		})
	}
}
