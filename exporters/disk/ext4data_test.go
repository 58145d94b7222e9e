package disk

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/strata-dev/strata/exporters/formats/rawdisk"
)

// TestFileDataBlocks checks fileDataBlocks against debugfs's own account
// of every regular file's extents, on a filesystem with a file fragmented
// enough to need an extent tree deeper than the inode.
func TestFileDataBlocks(t *testing.T) {
	requireRoot(t)
	requireTools(t, "mke2fs", "debugfs")
	var tree string
	img := assembleBase(t, 256<<20, func(base string) {
		tree = base
		must(t, os.MkdirAll(filepath.Join(base, "usr/lib/many"), 0o755))
		f, err := os.Create(filepath.Join(base, "usr/lib/fragmented"))
		must(t, err)
		for i := range 20 { // data, then a hole: 20 extents
			_, err := f.WriteAt(randomBytes(4096, byte(i)), int64(i)*68<<10)
			must(t, err)
		}
		must(t, f.Close())
		for i := range 300 {
			must(t, os.WriteFile(filepath.Join(base, fmt.Sprintf("usr/lib/many/f%d", i)), randomBytes(5000, byte(i)), 0o644))
		}
		must(t, os.Symlink(strings.Repeat("long/", 30)+"target", filepath.Join(base, "usr/lib/slow-symlink")))
	})
	root, err := rootPartition(img)
	must(t, err)
	f, err := os.Open(img)
	must(t, err)
	defer f.Close()
	got, _, err := fileDataBlocks(f, root.Start)
	must(t, err)

	dev := deviceAt(img, root)
	// debugfs's ex prints "level/depth entry/entries logical physical
	// length" per node entry; a leaf's physical blocks are "first - last".
	node := regexp.MustCompile(`(?m)^\s*(\d+)/\s*(\d+)\s.*$`)
	leaf := regexp.MustCompile(`\d+ -\s+\d+\s+(\d+) -\s+(\d+)\s+\d+`)
	var want []blockRange
	deep := false
	must(t, filepath.WalkDir(tree, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(tree, p)
		out := debugfs(t, dev, "ex /"+rel)
		for _, m := range node.FindAllStringSubmatch(out, -1) {
			if m[1] != m[2] {
				deep = true
				continue // an index node
			}
			l := leaf.FindStringSubmatch(m[0])
			if l == nil {
				t.Fatalf("unexpected debugfs ex line %q", m[0])
			}
			start, _ := strconv.ParseUint(l[1], 10, 64)
			end, _ := strconv.ParseUint(l[2], 10, 64)
			want = append(want, blockRange{start, end - start + 1})
		}
		return nil
	}))
	if !deep {
		t.Fatal("no file has an extent tree deeper than its inode: the fixture does not test descending")
	}
	want = mergeRanges(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("file data blocks:\n got %v\nwant %v", got, want)
	}
}

// TestFileDataBlocksUnknownMetadata: where regular-file inodes may hold
// metadata, nothing is listed, so AddLayer copies everything.
func TestFileDataBlocksUnknownMetadata(t *testing.T) {
	requireTools(t, "mke2fs")
	tree := t.TempDir()
	must(t, os.WriteFile(filepath.Join(tree, "file"), randomBytes(64<<10, 1), 0o644))
	for _, feature := range []string{"ea_inode", "orphan_file"} {
		img := filepath.Join(t.TempDir(), "fs.img")
		run(t, "mke2fs", "-q", "-t", "ext4", "-b", "4096", "-O", feature, "-d", tree, img, "32M")
		f, err := os.Open(img)
		must(t, err)
		got, _, err := fileDataBlocks(f, 0)
		f.Close()
		must(t, err)
		if len(got) != 0 {
			t.Errorf("with %s: listed %v", feature, got)
		}
	}
	img := filepath.Join(t.TempDir(), "fs.img")
	run(t, "mke2fs", "-q", "-t", "ext4", "-b", "4096", "-d", tree, img, "32M")
	f, err := os.Open(img)
	must(t, err)
	defer f.Close()
	if got, _, err := fileDataBlocks(f, 0); err != nil || len(got) != 1 || got[0].Count != 16 {
		t.Errorf("without those features: got %v, %v; want one run of the file's 16 blocks", got, err)
	}
}

// TestChangedBlocks: a copied metadata block that became zeros counts as
// changed even where the edited image keeps it as a hole, a file block the
// edit left alone does not, and applying the changes writes the zeros.
func TestChangedBlocks(t *testing.T) {
	const bs = 4096
	block := func(f *os.File, i int64, fill byte) {
		_, err := f.WriteAt(bytes.Repeat([]byte{fill}, bs), i*bs)
		must(t, err)
	}
	dir := t.TempDir()
	src, err := os.Create(filepath.Join(dir, "base"))
	must(t, err)
	defer src.Close()
	must(t, src.Truncate(8*bs))
	block(src, 1, 0xa1) // metadata the edit clears
	block(src, 2, 0xf2) // a file's contents, left alone
	block(src, 3, 0xa3) // metadata the edit keeps
	img, err := os.Create(filepath.Join(dir, "edited"))
	must(t, err)
	defer img.Close()
	must(t, img.Truncate(8*bs))
	block(img, 3, 0xa3)
	block(img, 5, 0x55) // newly written
	files := []blockRange{{2, 1}}

	sb := &ext4Superblock{BlockSize: bs, BlocksCount: 8}
	data, err := rawdisk.DataExtents(src, 8*bs)
	must(t, err)
	copied := subtractRanges(blocksOf(data, 0, bs, 8), files) // as copyMetadata copies
	got, err := changedBlocks(img, src, 0, sb, files, copied)
	must(t, err)
	if want := []blockRange{{1, 1}, {5, 1}}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("changed blocks %v, want %v", got, want)
	}
	e := &rootEdit{blockSize: bs, changes: got}
	must(t, e.apply(src, img))
	disk := make([]byte, 8*bs)
	_, err = src.ReadAt(disk, 0)
	must(t, err)
	for i, want := range []byte{0, 0, 0xf2, 0xa3, 0, 0x55, 0, 0} {
		if !bytes.Equal(disk[i*bs:(i+1)*bs], bytes.Repeat([]byte{want}, bs)) {
			t.Errorf("block %d after apply is not all %#x", i, want)
		}
	}
}
