package diskimage

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-dev/strata/exporters/disk"
)

func TestSniff(t *testing.T) {
	at := func(off int, sig string) []byte {
		b := make([]byte, sniffLen)
		b[0] = 0xeb // a boot sector's jump, so it is not text
		copy(b[off:], sig)
		return b
	}
	tar := at(257, "ustar\x0000")
	for _, tc := range []struct {
		name string
		head []byte
		kind kind
		what string
	}{
		{"raw", at(512, "EFI PART"), kindDisk, ""},
		{"qcow2", at(0, "QFI\xfb"), kindDisk, ""},
		{"gzip", at(0, "\x1f\x8b\x08"), kindGzip, ""},
		{"tar", tar, kindTar, ""},
		{"zip", at(0, "PK\x03\x04"), kindOther, "a zip archive"},
		{"xz", at(0, "\xfd7zXZ\x00"), kindOther, "an xz-compressed file"},
		{"zstd", at(0, "\x28\xb5\x2f\xfd"), kindOther, "a zstd-compressed file"},
		{"elf", at(0, "\x7fELF"), kindOther, "an ELF executable"},
		{"squashfs", at(0, "hsqs"), kindOther, "a squashfs image"},
		{"bare ext4", at(1024+56, "\x53\xef"), kindOther, "an ext4 filesystem without a partition table"},
		{"iso", at(0x8001, "CD001"), kindOther, "an ISO 9660 image"},
		{"text", []byte("apiVersion: strata.dev/v1alpha1\nkind: NodeImage\n"), kindOther, "a text file"},
		{"empty", nil, kindOther, "an empty file"},
	} {
		k, what := sniff(tc.head)
		if k != tc.kind || !strings.HasPrefix(what, tc.what) {
			t.Errorf("%s: %v %q, want %v %q", tc.name, k, what, tc.kind, tc.what)
		}
	}
}

func TestOpenNamesWhatItFound(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	noGPT := make([]byte, 1<<20)
	noGPT[0] = 0xeb
	for p, want := range map[string]string{
		write("x.zip", []byte("PK\x03\x04rest")):         ": a zip archive, not a disk image: " + Readable,
		write("node.yaml", []byte("kind: NodeImage\n")):  ": a text file, not a disk image",
		write("blank.raw", noGPT):                        ": no GPT partition table, so not a disk image strata can read",
		write("fake.tar.gz", []byte("\x1f\x8b\x08\x00")): ": a gzip'd file, but not a GCE image",
		dir: ": a directory, not a disk image",
	} {
		_, err := Open(context.Background(), p)
		if err == nil || !strings.HasPrefix(err.Error(), p+want) {
			t.Errorf("Open(%s): %v, want %q", filepath.Base(p), err, p+want)
		}
	}
}

// TestRootPartition: root=PARTUUID= decides over the partition type, the
// type over being the only ext4 one.
func TestRootPartition(t *testing.T) {
	ext4 := &disk.FilesystemReport{Type: "ext4"}
	parts := []disk.PartitionReport{
		{Number: 1, TypeGUID: disk.TypeESP, GUID: "e", Filesystem: &disk.FilesystemReport{Type: "vfat"}},
		{Number: 2, TypeGUID: "0FC63DAF-8483-4772-8E79-3D69D8477DE4", GUID: "data", Filesystem: ext4},
		{Number: 3, TypeGUID: disk.TypeRootX86_64, GUID: "root", Filesystem: ext4},
	}
	entry := func(cmdline string) *disk.LoaderReport {
		return &disk.LoaderReport{Entries: []disk.LoaderEntry{{File: "/loader/entries/a.conf", Cmdline: cmdline}}}
	}
	for _, tc := range []struct {
		loader *disk.LoaderReport
		parts  []disk.PartitionReport
		want   int
		err    string
	}{
		{entry("root=PARTUUID=DATA rw"), parts, 2, ""},
		{entry("rw"), parts, 3, ""},
		{nil, parts[:2], 2, ""},
		{nil, parts[:1], 0, "no ext4 partition"},
		{nil, []disk.PartitionReport{parts[0], parts[1], parts[1]}, 0, "2 ext4 partitions and none is marked"},
	} {
		img := &Image{Path: "d.raw", Report: &disk.Report{Partitions: tc.parts, Loader: tc.loader}}
		p, err := img.RootPartition()
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("err %v, want %q", err, tc.err)
			}
		case err != nil || p.Number != tc.want:
			t.Errorf("partition %+v (%v), want %d", p, err, tc.want)
		}
	}
}

// TestCopyPartitionStaysSparse: the copy of a mostly empty range
// allocates only its data.
func TestCopyPartitionStaysSparse(t *testing.T) {
	src := make([]byte, 16<<20)
	copy(src[3<<20:], "data")
	copy(src[len(src)-5:], "tail!")
	out := filepath.Join(t.TempDir(), "p.raw")
	if err := copyPartition(context.Background(), out, bytes.NewReader(src), 1<<20, 15<<20); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil || !bytes.Equal(got, src[1<<20:]) {
		t.Fatalf("copy differs (%v)", err)
	}
	if a := allocated(out); a > 64<<10 {
		t.Errorf("%d bytes allocated for 9 bytes of data", a)
	}
}
