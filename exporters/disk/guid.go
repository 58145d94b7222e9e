package disk

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"

	"github.com/google/uuid"
)

// Purposes name each identifier derived from the seed. They are part of the
// on-disk result: renaming one changes every image built from then on.
const (
	purposeDiskGUID     = "gpt-disk-guid"
	purposeESPGUID      = "gpt-partition-guid/esp"
	purposeRootGUID     = "gpt-partition-guid/root"
	purposeRootFSUUID   = "ext4-uuid/root"
	purposeRootHashSeed = "ext4-hash-seed/root"
	purposeESPVolumeID  = "fat-volume-id/esp"
)

// deriveUUID makes a name-based UUID from seed and purpose: SHA-256 over
// both (NUL-separated so "ab"+"c" and "a"+"bc" differ), truncated to 16
// bytes, with the RFC 9562 version 8 ("custom") and variant bits set. Version
// 5 would promise SHA-1, which this is not.
func deriveUUID(seed, purpose string) uuid.UUID {
	sum := seedHash(seed, purpose)
	var u uuid.UUID
	copy(u[:], sum[:16])
	u[6] = u[6]&0x0f | 0x80 // version 8
	u[8] = u[8]&0x3f | 0x80 // variant 10xx (RFC 4122/9562)
	return u
}

// deriveVolumeID makes the 32-bit FAT volume serial number from the seed.
func deriveVolumeID(seed string) uint32 {
	sum := seedHash(seed, purposeESPVolumeID)
	return binary.LittleEndian.Uint32(sum[:4])
}

func seedHash(seed, purpose string) [32]byte {
	h := sha256.New()
	h.Write([]byte(seed))
	h.Write([]byte{0})
	h.Write([]byte(purpose))
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// randomSeed is used when the caller gives no seed, so unseeded images still
// get unique identifiers.
func randomSeed() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return "random:" + hex.EncodeToString(b[:])
}
