package ident

import "testing"

func TestDerivedIDsDependOnSeedAndPurpose(t *testing.T) {
	a := UUID("seed", "vhd")
	if a != UUID("seed", "vhd") {
		t.Fatal("same seed and purpose gave different UUIDs")
	}
	if a == UUID("seed2", "vhd") || a == UUID("seed", "vmdk") || UUID("ab", "c") == UUID("a", "bc") {
		t.Fatal("different inputs gave the same UUID")
	}
	if a.Version() != 8 || a.Variant().String() != "RFC4122" {
		t.Fatalf("UUID %s: version %d variant %s", a, a.Version(), a.Variant())
	}
	if Uint32("s", "cid") == Uint32("s", "cid2") {
		t.Fatal("Uint32 ignores the purpose")
	}
}
