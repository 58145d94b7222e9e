package rawdisk

import (
	"cmp"
	"fmt"
	"io"
	"slices"
)

// Layered returns a disk that reads as base except in changes, where it
// reads upper: the disk's byte at offset off in a change is upper's byte at
// off-shift. changes must be in order and must not overlap. It is how a
// layer added to a base disk (strata add-layer --delta) is converted
// without the whole layered disk ever being written.
func Layered(base *Disk, upper io.ReaderAt, shift int64, changes []Extent) (*Disk, error) {
	for i, c := range changes {
		if c.Off < 0 || c.Len <= 0 || c.End() > base.size || i > 0 && c.Off < changes[i-1].End() {
			return nil, fmt.Errorf("layer change %d (%d bytes at %d) is out of order or outside the %d-byte disk", i, c.Len, c.Off, base.size)
		}
	}
	l := &layers{base: base, upper: upper, shift: shift, changes: changes}
	return &Disk{r: l, size: base.size, layers: l}, nil
}

// layers is a Layered disk's reader.
type layers struct {
	base    *Disk
	upper   io.ReaderAt
	shift   int64
	changes []Extent
}

func (l *layers) ReadAt(p []byte, off int64) (int, error) {
	if _, err := l.base.ReadAt(p, off); err != nil {
		return 0, err
	}
	end := off + int64(len(p))
	// The first change that ends after off.
	i, _ := slices.BinarySearchFunc(l.changes, off, func(c Extent, off int64) int {
		if c.End() <= off {
			return -1
		}
		return 1
	})
	for ; i < len(l.changes) && l.changes[i].Off < end; i++ {
		c := l.changes[i]
		from, to := max(c.Off, off), min(c.End(), end)
		if _, err := l.upper.ReadAt(p[from-off:to-off], from-l.shift); err != nil {
			return 0, fmt.Errorf("reading the layer at %d: %w", from-l.shift, err)
		}
	}
	return len(p), nil
}

// dataExtents are the base's and the changes', merged.
func (l *layers) dataExtents() ([]Extent, error) {
	base, err := l.base.dataExtents()
	if err != nil {
		return nil, err
	}
	all := slices.Concat(base, l.changes)
	slices.SortFunc(all, func(a, b Extent) int { return cmp.Compare(a.Off, b.Off) })
	var out []Extent
	for _, e := range all {
		if n := len(out); n > 0 && e.Off <= out[n-1].End() {
			out[n-1].Len = max(out[n-1].End(), e.End()) - out[n-1].Off
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

// Unchanged says whether the disk's bytes [off, off+n) are its base's: true
// for a disk that is not Layered only if base is the disk itself.
func (d *Disk) Unchanged(base *Disk, off, n int64) bool {
	if d == base {
		return true
	}
	if d.layers == nil || d.layers.base != base {
		return false
	}
	cs := d.layers.changes
	i, _ := slices.BinarySearchFunc(cs, off, func(c Extent, off int64) int {
		if c.End() <= off {
			return -1
		}
		return 1
	})
	return i == len(cs) || cs[i].Off >= off+n
}
