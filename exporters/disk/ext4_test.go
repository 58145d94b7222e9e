package disk

import (
	"encoding/binary"
	"testing"
	"time"
)

func TestCRC32cRaw(t *testing.T) {
	// Standard CRC-32C check value for "123456789" is 0xE3069283, which
	// is the raw CRC from ~0 with a final inversion.
	if got := ^crc32cRaw(^uint32(0), []byte("123456789")); got != 0xe3069283 {
		t.Errorf("crc32c = %#x", got)
	}
}

func newRawInode(extra uint16) []byte {
	raw := make([]byte, 256)
	binary.LittleEndian.PutUint16(raw[inoExtraIsize:], extra)
	return raw
}

func TestSetInodeTimes(t *testing.T) {
	le := binary.LittleEndian
	epoch := time.Unix(1700000000, 0)

	// A newer mtime is clamped, an older one kept with its nanoseconds.
	raw := newRawInode(32)
	le.PutUint32(raw[inoMtime:], 1800000000)
	le.PutUint32(raw[inoMtimeExtra:], 123<<2)
	le.PutUint32(raw[inoAtime:], 1900000000)
	setInodeTimes(raw, epoch)
	for name, off := range map[string]int{"atime": inoAtime, "ctime": inoCtime, "mtime": inoMtime, "crtime": inoCrtime} {
		if got := le.Uint32(raw[off:]); got != 1700000000 {
			t.Errorf("%s = %d", name, got)
		}
	}
	if got := le.Uint32(raw[inoMtimeExtra:]); got != 0 {
		t.Errorf("clamped mtime keeps extra %#x", got)
	}

	raw = newRawInode(32)
	le.PutUint32(raw[inoMtime:], 1600000000)
	le.PutUint32(raw[inoMtimeExtra:], 123<<2)
	setInodeTimes(raw, epoch)
	if le.Uint32(raw[inoMtime:]) != 1600000000 || le.Uint32(raw[inoMtimeExtra:]) != 123<<2 {
		t.Errorf("older mtime changed")
	}

	// Past 2038 the seconds wrap and the epoch bits carry the rest; an
	// mtime in 2030 is older than a 2040 epoch and must survive.
	later := time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)
	raw = newRawInode(32)
	le.PutUint32(raw[inoMtime:], uint32(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).Unix()))
	setInodeTimes(raw, later)
	sec := int64(int32(le.Uint32(raw[inoCtime:]))) + int64(le.Uint32(raw[inoCtimeExtra:])&3)<<32
	if sec != later.Unix() {
		t.Errorf("ctime decodes to %d, want %d", sec, later.Unix())
	}
	if le.Uint32(raw[inoMtime:]) != uint32(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).Unix()) {
		t.Errorf("2030 mtime clamped by a 2040 epoch")
	}

	// Without extra space only the classic fields are written.
	raw = newRawInode(0)
	setInodeTimes(raw, epoch)
	if le.Uint32(raw[inoCrtime:]) != 0 || le.Uint32(raw[inoAtime:]) != 1700000000 {
		t.Errorf("small inode: crtime %d atime %d", le.Uint32(raw[inoCrtime:]), le.Uint32(raw[inoAtime:]))
	}
}

func TestInodeChecksumRoundTrip(t *testing.T) {
	raw := newRawInode(32)
	binary.LittleEndian.PutUint16(raw[inoMode:], 0o100644)
	c := inodeChecksum(0x12345678, 12, raw)
	setInodeChecksum(raw, c)
	if storedInodeChecksum(raw) != c || inodeChecksum(0x12345678, 12, raw) != c {
		t.Fatal("checksum does not cover itself as zero")
	}
	if inodeChecksum(0x12345678, 13, raw) == c {
		t.Error("checksum ignores the inode number")
	}
}
