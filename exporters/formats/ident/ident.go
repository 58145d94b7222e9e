// Package ident derives the identifiers image formats carry (a VHD's
// unique ID, a VMDK's content IDs) from a seed, so the same disk and seed
// always give the same file.
package ident

import (
	"crypto/sha256"
	"encoding/binary"

	"github.com/google/uuid"
)

// UUID makes a name-based UUID from seed and purpose: SHA-256 over both
// (NUL-separated so "ab"+"c" and "a"+"bc" differ), truncated to 16 bytes,
// with the RFC 9562 version 8 ("custom") and variant bits set, the same
// construction the disk assembler uses for its GUIDs.
func UUID(seed, purpose string) uuid.UUID {
	sum := hash(seed, purpose)
	var u uuid.UUID
	copy(u[:], sum[:16])
	u[6] = u[6]&0x0f | 0x80 // version 8
	u[8] = u[8]&0x3f | 0x80 // variant 10xx
	return u
}

// Uint32 derives a 32-bit number from seed and purpose.
func Uint32(seed, purpose string) uint32 {
	sum := hash(seed, purpose)
	return binary.BigEndian.Uint32(sum[:4])
}

func hash(seed, purpose string) [32]byte {
	h := sha256.New()
	h.Write([]byte(seed))
	h.Write([]byte{0})
	h.Write([]byte(purpose))
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}
