package disk

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"

	"github.com/google/uuid"

	"github.com/strata-dev/strata/exporters/ident"
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

func deriveUUID(seed, purpose string) uuid.UUID { return ident.UUID(seed, purpose) }

// deriveVolumeID makes the 32-bit FAT volume serial number from the seed.
func deriveVolumeID(seed string) uint32 {
	sum := ident.Hash(seed, purposeESPVolumeID)
	return binary.LittleEndian.Uint32(sum[:4])
}

// randomSeed is used when the caller gives no seed, so unseeded images still
// get unique identifiers.
func randomSeed() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return "random:" + hex.EncodeToString(b[:])
}
