package disk

import (
	"strings"
	"testing"
)

func TestDeriveUUID(t *testing.T) {
	purposes := []string{purposeDiskGUID, purposeESPGUID, purposeRootGUID, purposeRootFSUUID, purposeRootHashSeed}
	seen := map[string]bool{}
	for _, seed := range []string{"", "sha256:abc", "sha256:abd", "a"} {
		for _, p := range purposes {
			u := deriveUUID(seed, p)
			if u != deriveUUID(seed, p) {
				t.Fatalf("not deterministic for %q/%q", seed, p)
			}
			if u.Version() != 8 {
				t.Errorf("%q/%q: version %d, want 8", seed, p, u.Version())
			}
			if u[8]&0xc0 != 0x80 {
				t.Errorf("%q/%q: variant bits %08b, want 10xxxxxx", seed, p, u[8])
			}
			if s := u.String(); s != strings.ToLower(s) || seen[s] {
				t.Errorf("%q/%q: %s is upper case or repeated", seed, p, s)
			} else {
				seen[s] = true
			}
		}
	}
	// The separator keeps ("ab","c") and ("a","bc") apart.
	if deriveUUID("ab", "c") == deriveUUID("a", "bc") {
		t.Error("seed/purpose boundary is ambiguous")
	}
}

func TestRandomSeed(t *testing.T) {
	a, b := randomSeed(), randomSeed()
	if a == b || !strings.HasPrefix(a, "random:") || len(a) != len("random:")+32 {
		t.Errorf("random seeds %q %q", a, b)
	}
}
