package formats

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/strata-dev/strata/exporters/formats/internal/testdisk"
)

// TestConvertReuseEveryFormat converts a derived disk with the base's
// conversion in the same format as reuse image: the formats that reuse copy
// most clusters, the others say why not, and every output is the one
// without reuse.
func TestConvertReuseEveryFormat(t *testing.T) {
	dir := t.TempDir()
	base := testdisk.Synthetic(t, dir, 24<<20+3*512, 9)
	derived := testdisk.Derived(t, dir, base, testdisk.Change{Seed: 1, Added: 512 << 10, Rewrites: 4})
	o := Options{Seed: "s"}
	for _, f := range All {
		t.Run(f.Name, func(t *testing.T) {
			convert := func(src, sub string, o Options) *Result {
				t.Helper()
				res, err := Convert(context.Background(), src, filepath.Join(dir, f.Name, sub, f.OutputName(src)), f, o)
				if err != nil {
					t.Fatal(err)
				}
				return res
			}
			for _, sub := range []string{"base", "fresh", "reused"} {
				testdisk.MkdirAll(t, filepath.Join(dir, f.Name, sub))
			}
			baseImg := convert(base, "base", o).Path
			fresh := convert(derived, "fresh", o)
			withReuse := o
			withReuse.Reuse = &Reuse{Raw: base, Image: baseImg}
			got := convert(derived, "reused", withReuse)
			testdisk.SameFile(t, fresh.Path, got.Path)
			s := got.Reuse
			switch {
			case s == nil:
				t.Fatal("no reuse figures")
			case f.NoReuse != "":
				if s.Ignored != f.NoReuse {
					t.Errorf("ignored: %q, want %q", s.Ignored, f.NoReuse)
				}
			case s.Ignored != "" || s.Reused <= s.Compressed:
				t.Errorf("reuse %+v: want most clusters reused", *s)
			}
			if fresh.Reuse != nil {
				t.Errorf("reuse figures %+v without reuse", *fresh.Reuse)
			}
		})
	}
}

func TestConvertReuseNeedsBothFiles(t *testing.T) {
	raw := testdisk.Synthetic(t, t.TempDir(), 8<<20, 3)
	f, _ := Lookup("vmdk")
	for _, r := range []*Reuse{{Raw: raw}, {Image: raw}, {Raw: raw, Image: "/nonexistent.vmdk"}} {
		if _, err := Convert(context.Background(), raw, filepath.Join(t.TempDir(), "x.vmdk"), f, Options{Reuse: r}); err == nil {
			t.Errorf("reuse %+v accepted", *r)
		}
	}
}
