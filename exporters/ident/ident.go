// Package ident derives the identifiers of built artifacts (disk and
// partition GUIDs, filesystem UUIDs) from a seed, so that equal inputs give
// byte-identical outputs while different specs still get different IDs.
package ident

import (
	"crypto/sha256"
	"encoding/binary"

	"github.com/google/uuid"
)

// UUID makes a name-based UUID from seed and purpose: SHA-256 over both
// (NUL-separated so "ab"+"c" and "a"+"bc" differ), truncated to 16 bytes,
// with the RFC 9562 version 8 ("custom") and variant bits set. Version 5
// would promise SHA-1, which this is not.
func UUID(seed, purpose string) uuid.UUID {
	sum := Hash(seed, purpose)
	var u uuid.UUID
	copy(u[:], sum[:16])
	u[6] = u[6]&0x0f | 0x80 // version 8
	u[8] = u[8]&0x3f | 0x80 // variant 10xx (RFC 4122/9562)
	return u
}

// Hash is SHA-256 over seed and purpose, for identifiers that are not UUIDs.
func Hash(seed, purpose string) [32]byte {
	h := sha256.New()
	h.Write([]byte(seed))
	h.Write([]byte{0})
	h.Write([]byte(purpose))
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// Uint32 derives a 32-bit number from seed and purpose (the first four
// bytes of Hash, big-endian).
func Uint32(seed, purpose string) uint32 {
	sum := Hash(seed, purpose)
	return binary.BigEndian.Uint32(sum[:4])
}
