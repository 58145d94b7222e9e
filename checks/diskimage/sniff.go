package diskimage

import (
	"bytes"
	"encoding/binary"
	"unicode/utf8"
)

// Readable lists what Open accepts, for messages.
const Readable = "strata inspect reads raw, qcow2, VHD, VMDK, OVA and GCE tar.gz"

// kind is what the first bytes of a file say it is.
type kind int

const (
	kindDisk  kind = iota // raw, qcow2, VHD or VMDK: exporters/formats tells them apart
	kindGzip              // a GCE image, or another gzip'd file
	kindTar               // an OVA, or another tar
	kindOther             // something that is no disk image; other names it
)

// magic is a signature of a file that is not a disk image.
type magic struct {
	off  int
	sig  []byte
	name string
}

// notDisks are files people pass by mistake, named so the message says
// what was found. Bare filesystems are here too: a disk image has a
// partition table in front of them.
var notDisks = []magic{
	{0, []byte("PK\x03\x04"), "a zip archive"},
	{0, []byte("PK\x05\x06"), "a zip archive"},
	{0, []byte("\xfd7zXZ\x00"), "an xz-compressed file"},
	{0, []byte("\x28\xb5\x2f\xfd"), "a zstd-compressed file"},
	{0, []byte("BZh"), "a bzip2-compressed file"},
	{0, []byte("7z\xbc\xaf\x27\x1c"), "a 7-Zip archive"},
	{0, []byte("\x7fELF"), "an ELF executable"},
	{0, []byte("hsqs"), "a squashfs image (a system extension?)"},
	{1024, []byte{0xe2, 0xe1, 0xf5, 0xe0}, "an erofs image (a system extension?)"},
	{1024 + 56, []byte{0x53, 0xef}, "an ext4 filesystem without a partition table"},
	{0x8001, []byte("CD001"), "an ISO 9660 image"},
}

// sniffLen is how much of a file sniff looks at.
const sniffLen = 0x8010

// sniff tells disk images and the archives that hold one from what is
// neither, by magic numbers.
func sniff(head []byte) (kind, string) {
	switch {
	case len(head) == 0:
		return kindOther, "an empty file"
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return kindGzip, ""
	case len(head) > 262 && string(head[257:262]) == "ustar":
		return kindTar, ""
	case hasGPT(head):
		// A partition table outranks any signature further in: a hybrid
		// ISO, or a partition name that happens to spell a magic number.
		return kindDisk, ""
	}
	for _, m := range notDisks {
		if len(head) >= m.off+len(m.sig) && bytes.Equal(head[m.off:m.off+len(m.sig)], m.sig) {
			return kindOther, m.name
		}
	}
	if looksLikeText(head) {
		return kindOther, "a text file"
	}
	return kindDisk, ""
}

// looksLikeText: a disk starts with a boot sector or a format header,
// binary either way; a spec or a log passed by mistake is UTF-8 text.
func looksLikeText(head []byte) bool {
	n := min(len(head), 512)
	return bytes.IndexByte(head[:n], 0) < 0 && utf8.Valid(trimPartialRune(head[:n]))
}

func trimPartialRune(b []byte) []byte {
	for i := 0; i < utf8.UTFMax && len(b) > 0; i++ {
		if r, _ := utf8.DecodeLastRune(b); r != utf8.RuneError {
			break
		}
		b = b[:len(b)-1]
	}
	return b
}

// hasGPT reports the "EFI PART" signature at LBA 1 of 512-byte sectors,
// which is what disk.Inspect reads.
func hasGPT(head []byte) bool {
	return len(head) >= 520 && binary.LittleEndian.Uint64(head[512:520]) == 0x5452415020494645
}
