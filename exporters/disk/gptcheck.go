package disk

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/diskfs/go-diskfs/partition/gpt"
)

// maxGPTEntryBytes bounds the partition entry array a GPT header may
// declare. Every tool writes 128 entries of 128 bytes (16 KiB); go-diskfs
// allocates whatever a header with a valid checksum says before reading
// it, so a header declaring 2^32 entries would take the process down.
const maxGPTEntryBytes = 1 << 20

// checkGPTHeaders refuses a disk of size bytes whose primary or backup GPT
// header, one go-diskfs would accept, declares an entry array over
// maxGPTEntryBytes.
func checkGPTHeaders(r io.ReaderAt, size int64) error {
	le := binary.LittleEndian
	for _, lba := range []int64{1, size/SectorSize - 1} {
		hdr := make([]byte, 92)
		if _, err := r.ReadAt(hdr, lba*SectorSize); err != nil || string(hdr[:8]) != "EFI PART" {
			continue
		}
		want := le.Uint32(hdr[16:])
		le.PutUint32(hdr[16:], 0)
		if crc32.ChecksumIEEE(hdr) != want {
			continue // go-diskfs refuses it before reading its entries
		}
		count, entry := le.Uint32(hdr[80:]), le.Uint32(hdr[84:])
		if n := uint64(count) * uint64(entry); n > maxGPTEntryBytes {
			return fmt.Errorf("the GPT header in sector %d declares %d entries of %d bytes, %d bytes where tools write 16 KiB: the table is corrupt", lba, count, entry, n)
		}
	}
	return nil
}

// checkPartitionFits refuses an entry that does not lie on the disk: a
// table written for a larger disk, or an image cut short.
func checkPartitionFits(p *gpt.Partition, size int64) error {
	sectors := uint64(size / SectorSize)
	if p.Start > p.End || p.End >= sectors {
		return fmt.Errorf("partition %d spans sectors %d to %d of a %d-sector disk: the image is truncated or its table corrupt", p.Index, p.Start, p.End, sectors)
	}
	return nil
}
