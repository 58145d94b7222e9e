package rawdisk

import (
	"bytes"
	"context"
	"testing"
)

func TestLayered(t *testing.T) {
	base := bytes.Repeat([]byte{1}, 64<<10)
	clear(base[32<<10:]) // the base's second half is zeros
	upper := bytes.Repeat([]byte{2}, 64<<10)
	changes := []Extent{{4 << 10, 4 << 10}, {40 << 10, 8 << 10}}
	baseDisk := New(bytes.NewReader(base), int64(len(base)))
	d, err := Layered(baseDisk, bytes.NewReader(upper), 2<<10, changes)
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Clone(base)
	for _, c := range changes {
		copy(want[c.Off:c.End()], upper[c.Off-2<<10:])
	}
	got := make([]byte, len(base))
	// Reads that start and end inside changes.
	for off := 0; off < len(got); off += 3 << 10 {
		n := min(3<<10, len(got)-off)
		if _, err := d.ReadAt(got[off:off+n], int64(off)); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatal("layered reads differ from the base with the changes applied")
	}
	used, err := d.Map(context.Background(), 4096)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Extent{{0, 32 << 10}, {40 << 10, 8 << 10}}; !equalExtents(used, want) {
		t.Errorf("map %v, want %v", used, want)
	}
	for _, c := range []struct {
		off, n int64
		want   bool
	}{{0, 4 << 10, true}, {0, 4<<10 + 1, false}, {8 << 10, 32 << 10, true}, {44 << 10, 1, false}, {48 << 10, 16 << 10, true}} {
		if got := d.Unchanged(baseDisk, c.off, c.n); got != c.want {
			t.Errorf("Unchanged(%d, %d) = %v, want %v", c.off, c.n, got, c.want)
		}
	}
	if d.Unchanged(New(bytes.NewReader(base), int64(len(base))), 0, 1) {
		t.Error("a layered disk claims to equal a disk that is not its base")
	}
	if _, err := Layered(baseDisk, bytes.NewReader(upper), 0, []Extent{{8, 8}, {4, 8}}); err == nil {
		t.Error("overlapping changes were accepted")
	}
}

func equalExtents(a, b []Extent) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
