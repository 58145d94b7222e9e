package disk

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/strata-dev/strata/exporters/formats/rawdisk"
)

// A delta is a layered disk written without its base (AddLayerDelta): a
// directory holding the edited root filesystem (deltaImage, sparse) and
// deltaManifest, which lists the filesystem blocks that differ from the
// base's. Together with the base it reads as the whole disk (OpenDelta), so
// a conversion never needs the layered disk written out in full.
const (
	deltaImage    = "delta.img"
	deltaManifest = "delta.json"
)

// deltaFile is deltaManifest's content.
type deltaFile struct {
	// Base identifies the disk the delta applies to: its size, where its
	// root filesystem starts, and the SHA-256 of its superblock, group
	// descriptors and every block the delta replaces.
	Base struct {
		Size       int64  `json:"size"`
		RootOffset int64  `json:"rootOffset"`
		SHA256     string `json:"sha256"`
	} `json:"base"`
	BlockSize int64 `json:"blockSize"`
	// Changes are runs of filesystem blocks: [first, count].
	Changes [][2]uint64 `json:"changes"`
}

// Delta is a layered disk opened by OpenDelta: the base disk's bytes,
// except in Changes, where Image holds them.
type Delta struct {
	// Image holds the changed bytes; the disk's byte at offset off (in
	// Changes) is Image's byte at off-Shift.
	Image *os.File
	Shift int64
	// Changes are the changed byte ranges of the disk, in order.
	Changes []rawdisk.Extent
}

// OpenDelta opens the delta in dir for the base disk it was made from, and
// fails when base is another disk.
func OpenDelta(dir, base string) (*Delta, error) {
	raw, err := os.ReadFile(filepath.Join(dir, deltaManifest))
	if err != nil {
		return nil, fmt.Errorf("%s is not a delta written by strata add-layer --delta: %w", dir, err)
	}
	var m deltaFile
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, deltaManifest), err)
	}
	if m.BlockSize <= 0 {
		return nil, fmt.Errorf("%s: no block size", filepath.Join(dir, deltaManifest))
	}
	changes := make([]blockRange, len(m.Changes))
	for i, c := range m.Changes {
		changes[i] = blockRange{c[0], c[1]}
	}
	src, err := os.Open(base)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return nil, err
	}
	sum, err := baseDigest(src, m.Base.RootOffset, m.BlockSize, changes)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", base, err)
	}
	if st.Size() != m.Base.Size || sum != m.Base.SHA256 {
		return nil, fmt.Errorf("the delta in %s was made from another disk than %s; give the base disk it was made from", dir, base)
	}
	img, err := os.Open(filepath.Join(dir, deltaImage))
	if err != nil {
		return nil, err
	}
	d := &Delta{Image: img, Shift: m.Base.RootOffset}
	for _, c := range changes {
		d.Changes = append(d.Changes, rawdisk.Extent{Off: m.Base.RootOffset + int64(c.Start)*m.BlockSize, Len: int64(c.Count) * m.BlockSize})
	}
	return d, nil
}

// Close closes the delta's image.
func (d *Delta) Close() error { return d.Image.Close() }

// deltaManifestFor is the manifest of the delta e made from base.
func deltaManifestFor(base string, e *rootEdit) ([]byte, error) {
	src, err := os.Open(base)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return nil, err
	}
	var m deltaFile
	m.Base.Size, m.Base.RootOffset, m.BlockSize = st.Size(), e.root.Start, e.blockSize
	if m.Base.SHA256, err = baseDigest(src, e.root.Start, e.blockSize, e.changes); err != nil {
		return nil, fmt.Errorf("reading %s: %w", base, err)
	}
	m.Changes = make([][2]uint64, len(e.changes))
	for i, c := range e.changes {
		m.Changes[i] = [2]uint64{c.Start, c.Count}
	}
	return json.Marshal(m)
}

// baseDigest hashes what a delta depends on in its base: the first blocks
// of the filesystem (superblock and group descriptors, which change with
// any allocation) and the blocks the delta replaces.
func baseDigest(src io.ReaderAt, offset, bs int64, changes []blockRange) (string, error) {
	h := sha256.New()
	head := make([]byte, 64*bs)
	if _, err := src.ReadAt(head, offset); err != nil {
		return "", err
	}
	h.Write(head)
	buf := make([]byte, 1<<20)
	for _, c := range changes {
		for off, end := int64(c.Start)*bs, int64(c.Start+c.Count)*bs; off < end; {
			n := min(int64(len(buf)), end-off)
			if _, err := src.ReadAt(buf[:n], offset+off); err != nil {
				return "", err
			}
			h.Write(buf[:n])
			off += n
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// changedBlocks compares the edited root filesystem img with the base's
// root filesystem at offset in src and lists the blocks that differ. img
// lacks the base's file contents (files): where it holds zeros in such a
// block, nothing wrote there and the base's block stands. Everywhere else
// img's block is the filesystem's. The blocks compared are those img may
// hold: its data extents, and every block copied from the base (copied),
// since one that became all zeros may read as a hole.
func changedBlocks(img, src *os.File, offset int64, sb *ext4Superblock, files, copied []blockRange) ([]blockRange, error) {
	bs := sb.BlockSize
	written, err := rawdisk.DataExtents(img, int64(sb.BlocksCount)*bs)
	if err != nil {
		return nil, err
	}
	candidates := mergeRanges(slices.Concat(blocksOf(written, 0, bs, sb.BlocksCount), copied))

	var out []blockRange
	const chunk = 256
	a, b := make([]byte, chunk*bs), make([]byte, chunk*bs)
	fileAt := 0 // files[fileAt] is the first run not wholly before the block
	for _, c := range candidates {
		for blk := c.Start; blk < c.Start+c.Count; blk += chunk {
			n := min(chunk, c.Start+c.Count-blk)
			if _, err := img.ReadAt(a[:int64(n)*bs], int64(blk)*bs); err != nil {
				return nil, err
			}
			if _, err := src.ReadAt(b[:int64(n)*bs], offset+int64(blk)*bs); err != nil {
				return nil, err
			}
			for i := range n {
				cur := blk + i
				for fileAt < len(files) && files[fileAt].Start+files[fileAt].Count <= cur {
					fileAt++
				}
				inFile := fileAt < len(files) && files[fileAt].Start <= cur
				x, y := a[int64(i)*bs:int64(i+1)*bs], b[int64(i)*bs:int64(i+1)*bs]
				if inFile && allZero(x) || bytes.Equal(x, y) {
					continue
				}
				if k := len(out); k > 0 && out[k-1].Start+out[k-1].Count == cur {
					out[k-1].Count++
				} else {
					out = append(out, blockRange{cur, 1})
				}
			}
		}
	}
	return out, nil
}

// blocksOf turns byte extents of a file, where the filesystem starts at
// byte shift, into the filesystem blocks they touch (of the first limit).
func blocksOf(extents []rawdisk.Extent, shift, bs int64, limit uint64) []blockRange {
	var out []blockRange
	for _, e := range extents {
		start := max(e.Off-shift, 0) / bs
		end := min((e.Off+e.Len-shift+bs-1)/bs, int64(limit))
		if end > start {
			out = append(out, blockRange{uint64(start), uint64(end - start)})
		}
	}
	return mergeRanges(out)
}

// subtractRanges returns the blocks of a that are not in b; both are
// merged and in order.
func subtractRanges(a, b []blockRange) []blockRange {
	var out []blockRange
	j := 0
	for _, r := range a {
		start, end := r.Start, r.Start+r.Count
		for j < len(b) && b[j].Start+b[j].Count <= start {
			j++
		}
		for k := j; k < len(b) && b[k].Start < end; k++ {
			if b[k].Start > start {
				out = append(out, blockRange{start, b[k].Start - start})
			}
			start = max(start, b[k].Start+b[k].Count)
		}
		if start < end {
			out = append(out, blockRange{start, end - start})
		}
	}
	return out
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
