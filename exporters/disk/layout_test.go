package disk

import (
	"strings"
	"testing"
)

const mib = int64(1 << 20)

func TestPlanLayoutDefaults(t *testing.T) {
	l, err := PlanLayout(Options{Size: 8 << 30, Seed: "sha256:abc"})
	if err != nil {
		t.Fatal(err)
	}
	if l.SectorSize != 512 || l.DiskSize != 8<<30 {
		t.Errorf("sector size %d, disk size %d", l.SectorSize, l.DiskSize)
	}
	// ESP: 1 MiB .. 257 MiB; root: 257 MiB .. 8191 MiB (the last MiB holds
	// the backup GPT and the alignment slack).
	checks := []struct {
		name      string
		got, want int64
	}{
		{"ESP start", l.ESP.Start, 1 * mib},
		{"ESP end", l.ESP.End, 257 * mib},
		{"ESP size", l.ESP.Size(), 256 * mib},
		{"root start", l.Root.Start, 257 * mib},
		{"root end", l.Root.End, 8191 * mib},
		{"ESP first LBA", int64(l.ESP.FirstLBA()), 2048},
		{"ESP last LBA", int64(l.ESP.LastLBA()), 257*2048 - 1},
		{"root first LBA", int64(l.Root.FirstLBA()), 257 * 2048},
		{"root last LBA", int64(l.Root.LastLBA()), 8191*2048 - 1},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	if l.ESP.TypeGUID != "C12A7328-F81F-11D2-BA4B-00A0C93EC93B" || l.Root.TypeGUID != "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709" {
		t.Errorf("types %s %s", l.ESP.TypeGUID, l.Root.TypeGUID)
	}
	if l.ESP.Number != 1 || l.Root.Number != 2 || l.ESP.Name != "ESP" || l.Root.Name != "root" {
		t.Errorf("numbers/names: %+v %+v", l.ESP, l.Root)
	}
	// The root must end before the backup GPT (last 33 sectors).
	if l.Root.End > l.DiskSize-33*512 {
		t.Errorf("root end %d overlaps the backup GPT", l.Root.End)
	}
}

func TestPlanLayoutAlignment(t *testing.T) {
	for _, tc := range []struct{ size, esp int64 }{
		{130 * mib, 64 * mib},
		{1 << 30, 0},
		{(100 << 30) + 7*mib, 512 * mib},
		{3 << 40, 0}, // > 2 TiB
	} {
		l, err := PlanLayout(Options{Size: tc.size, ESPSize: tc.esp})
		if err != nil {
			t.Fatalf("size %d esp %d: %v", tc.size, tc.esp, err)
		}
		for _, p := range []Partition{l.ESP, l.Root} {
			if p.Start%mib != 0 || p.End%mib != 0 {
				t.Errorf("size %d: partition %d [%d,%d) not 1 MiB aligned", tc.size, p.Number, p.Start, p.End)
			}
		}
		if l.ESP.End != l.Root.Start {
			t.Errorf("size %d: gap between ESP and root", tc.size)
		}
		if got := l.Root.End; got != tc.size-mib {
			t.Errorf("size %d: root end %d, want %d", tc.size, got, tc.size-mib)
		}
	}
}

func TestPlanLayoutErrors(t *testing.T) {
	// Smallest disk with a 64 MiB ESP: 1 + 64 + 64 (min root) + 1 MiB.
	if _, err := PlanLayout(Options{Size: 130 * mib, ESPSize: 64 * mib}); err != nil {
		t.Fatalf("130 MiB disk should fit: %v", err)
	}
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"one MiB short", Options{Size: 129 * mib, ESPSize: 64 * mib}, "too small"},
		{"default ESP on small disk", Options{Size: 300 * mib}, "too small"},
		{"zero", Options{}, "must be positive"},
		{"negative", Options{Size: -mib}, "must be positive"},
		{"unaligned size", Options{Size: 8<<30 + 512}, "multiple of 1 MiB"},
		{"unaligned ESP", Options{Size: 8 << 30, ESPSize: 100*mib + 4096}, "multiple of 1 MiB"},
		{"tiny ESP", Options{Size: 8 << 30, ESPSize: 32 * mib}, "ESP size 32 MiB"},
		{"long label", Options{Size: 8 << 30, RootLabel: "a-label-longer-than-16"}, "16 bytes"},
	} {
		_, err := PlanLayout(tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestPlanLayoutIdentifiers(t *testing.T) {
	a, _ := PlanLayout(Options{Size: 1 << 30, Seed: "sha256:abc"})
	b, _ := PlanLayout(Options{Size: 1 << 30, Seed: "sha256:abc"})
	c, _ := PlanLayout(Options{Size: 1 << 30, Seed: "sha256:abd"})
	if a != b {
		t.Errorf("same seed, different layouts:\n%+v\n%+v", a, b)
	}
	ids := map[string]string{
		"disk": a.DiskGUID, "esp": a.ESP.GUID, "root": a.Root.GUID,
		"ext4": a.RootFSUUID, "hash seed": a.RootHashSeed,
	}
	seen := map[string]string{}
	for what, id := range ids {
		if other, dup := seen[id]; dup {
			t.Errorf("%s and %s share %s", what, other, id)
		}
		seen[id] = what
	}
	if a.Root.GUID == c.Root.GUID || a.ESPVolumeID == c.ESPVolumeID || a.DiskGUID == c.DiskGUID {
		t.Errorf("different seeds gave equal identifiers")
	}
	// Pinned: changing the derivation changes every image ever built.
	if want := "2ef36a61-cd36-86a5-bd7a-dc0acdfcd2bb"; a.Root.GUID != want {
		t.Errorf("root GUID for seed sha256:abc = %s, want %s", a.Root.GUID, want)
	}
	if a.ESPVolumeID != 3725750045 {
		t.Errorf("ESP volume ID = %d, want 3725750045", a.ESPVolumeID)
	}
}
