// Package gce writes and reads the archive Google Compute Engine imports a
// disk image from: a gzip-compressed tar holding one file, disk.raw, whose
// size is a whole number of GiB, in GNU tar's old format (what
// `tar --format=oldgnu -Sczf` makes, as Google's documentation asks).
// disk.raw is stored as a GNU sparse file, so its holes take no room in
// the archive, and the gzip stream is compressed on every core.
package gce

import (
	"fmt"
	"time"

	"github.com/strata-dev/strata/exporters/formats/rawdisk"
)

const (
	blockSize = 512
	// recordSize is GNU tar's default record (20 blocks): archives are
	// padded to a whole record, as GNU tar pads them.
	recordSize = 20 * blockSize
	// entriesInHeader and entriesInExtension: how many sparse map entries
	// fit in the main header and in each extension block.
	entriesInHeader    = 4
	entriesInExtension = 21
	typeGNUSparse      = 'S'
	// FileName is the name GCE requires for the disk inside the archive.
	FileName = "disk.raw"
)

// sparseHeaders encodes the tar header blocks for disk.raw: the old GNU
// header with the first sparse entries, then as many extension blocks as
// the rest of the map needs. data lists the regions stored in the archive,
// in order; realSize is the file's full size.
func sparseHeaders(data []rawdisk.Extent, realSize int64, mtime time.Time) []byte {
	// GNU tar ends the map of a file that ends in a hole with an empty
	// entry at the end of the file; readers size the file from it.
	entries := append([]rawdisk.Extent(nil), data...)
	if n := len(entries); n == 0 || entries[n-1].End() < realSize {
		entries = append(entries, rawdisk.Extent{Off: realSize, Len: 0})
	}
	var stored int64
	for _, e := range data {
		stored += e.Len
	}

	h := make([]byte, blockSize)
	copy(h[0:100], FileName)
	copy(h[100:108], "0000644\x00")
	copy(h[108:116], "0000000\x00") // uid
	copy(h[116:124], "0000000\x00") // gid
	putNumber(h[124:136], stored)
	putNumber(h[136:148], max(mtime.Unix(), 0))
	h[156] = typeGNUSparse
	copy(h[257:265], "ustar  \x00") // the old GNU magic and version
	copy(h[265:297], "root")
	copy(h[297:329], "root")
	putSparse(h[386:482], entries)
	if len(entries) > entriesInHeader {
		h[482] = 1 // isextended
	}
	putNumber(h[483:495], realSize)
	putChecksum(h)

	out := h
	for rest := entries[min(len(entries), entriesInHeader):]; len(rest) > 0; {
		ext := make([]byte, blockSize)
		n := min(len(rest), entriesInExtension)
		putSparse(ext[:504], rest[:n])
		rest = rest[n:]
		if len(rest) > 0 {
			ext[504] = 1
		}
		out = append(out, ext...)
	}
	return out
}

// putSparse writes (offset, numbytes) pairs of 12 bytes each.
func putSparse(b []byte, entries []rawdisk.Extent) {
	for i, e := range entries {
		if 24*(i+1) > len(b) {
			return
		}
		putNumber(b[24*i:24*i+12], e.Off)
		putNumber(b[24*i+12:24*i+24], e.Len)
	}
}

// putNumber writes a numeric field: octal digits and a NUL when they fit,
// otherwise GNU's base-256 form (high bit of the first byte set, the value
// big-endian in the rest) — disks past 8 GiB need it.
func putNumber(b []byte, v int64) {
	digits := len(b) - 1
	if v >= 0 && v < 1<<(3*digits) {
		copy(b, fmt.Sprintf("%0*o\x00", digits, v))
		return
	}
	clear(b)
	for i := len(b) - 1; i > 0 && v != 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
	b[0] |= 0x80
}

// putChecksum computes the header checksum (the byte sum with the field
// itself counted as spaces) and stores it GNU-style: six octal digits, NUL,
// space.
func putChecksum(h []byte) {
	copy(h[148:156], "        ")
	var sum int64
	for _, c := range h {
		sum += int64(c)
	}
	copy(h[148:156], fmt.Sprintf("%06o\x00 ", sum))
}
