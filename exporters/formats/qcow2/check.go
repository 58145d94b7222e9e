package qcow2

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Check recomputes every host cluster's refcount from the image's own
// structures (header, L1 and L2 tables, data and compressed clusters,
// refcount table and blocks) and compares it with the stored refcounts, as
// `qemu-img check` does. It also checks the COPIED flag, which must be set
// exactly on entries whose cluster has refcount 1. A nil result means every
// cluster is referenced exactly as often as its refcount says, and nothing
// points outside the file.
func (img *Image) Check() error {
	c := &checker{img: img, nClusters: (img.fileSize + img.cs - 1) / img.cs}
	c.want = make([]uint32, c.nClusters)
	stored, err := c.storedRefcounts()
	if err != nil {
		return fmt.Errorf("qcow2: %w", err)
	}
	c.use("header", 0, img.cs)
	c.use("L1 table", int64(img.h.L1TableOffset), int64(img.h.L1Size)*8)

	type flagged struct {
		what    string
		cluster int64
		copied  bool
	}
	var exclusive []flagged
	for i, e := range img.l1 {
		off := int64(e & offsetMask)
		if off == 0 {
			continue
		}
		c.use("L2 table", off, img.cs)
		exclusive = append(exclusive, flagged{fmt.Sprintf("L1 entry %d", i), off / img.cs, e&flagCopied != 0})
		if off%img.cs != 0 || off+img.cs > img.fileSize {
			continue // already reported by use
		}
		l2, err := img.readTable(off, int(img.cs/8))
		if err != nil {
			return fmt.Errorf("qcow2: reading L2 table %d: %w", i, err)
		}
		for j, e := range l2 {
			what := fmt.Sprintf("guest cluster %d", int64(i)*img.cs/8+int64(j))
			if e&flagCompressed != 0 {
				off, n := img.compressedRange(e)
				c.use(what, off, n)
				continue
			}
			host := int64(e & offsetMask)
			if host == 0 {
				continue
			}
			c.use(what, host, img.cs)
			exclusive = append(exclusive, flagged{what, host / img.cs, e&flagCopied != 0})
		}
	}

	for cl := range c.nClusters {
		if c.want[cl] != stored[cl] {
			c.problem("host cluster %d: refcount %d, but referenced %d times", cl, stored[cl], c.want[cl])
		}
	}
	for _, f := range exclusive {
		if f.cluster < c.nClusters && f.copied != (stored[f.cluster] == 1) {
			c.problem("%s: COPIED flag %v with refcount %d", f.what, f.copied, stored[f.cluster])
		}
	}
	if len(c.problems) == 0 {
		return nil
	}
	more := ""
	if c.count > len(c.problems) {
		more = fmt.Sprintf(" (and %d more)", c.count-len(c.problems))
	}
	return fmt.Errorf("qcow2: %d problem(s)%s: %w", c.count, more, errors.Join(c.problems...))
}

type checker struct {
	img       *Image
	nClusters int64
	want      []uint32
	problems  []error
	count     int
}

func (c *checker) problem(format string, args ...any) {
	c.count++
	if len(c.problems) < 10 {
		c.problems = append(c.problems, fmt.Errorf(format, args...))
	}
}

// use counts one reference to every cluster that [off, off+n) touches.
func (c *checker) use(what string, off, n int64) {
	if off < 0 || n <= 0 || off+n > c.nClusters*c.img.cs {
		c.problem("%s: %d bytes at %#x reach beyond the end of the file", what, n, off)
		return
	}
	for cl := off / c.img.cs; cl <= (off+n-1)/c.img.cs; cl++ {
		c.want[cl]++
	}
}

// storedRefcounts reads the refcount of every host cluster in the file,
// counting the refcount table and blocks as references on the way.
func (c *checker) storedRefcounts() ([]uint32, error) {
	img := c.img
	order := img.h.RefcountOrder
	if order < 3 {
		return nil, fmt.Errorf("checking %d-bit refcounts is not supported", 1<<order)
	}
	width := int64(1) << (order - 3) // bytes per refcount
	perBlock := img.cs / width
	rtOff := int64(img.h.RefcountTableOffset)
	c.use("refcount table", rtOff, int64(img.h.RefcountTableClusters)*img.cs)
	rt, err := img.readTable(rtOff, int(int64(img.h.RefcountTableClusters)*img.cs/8))
	if err != nil {
		return nil, fmt.Errorf("reading refcount table: %w", err)
	}
	stored := make([]uint32, c.nClusters)
	block := make([]byte, img.cs)
	for i, e := range rt {
		off := int64(e & offsetMask)
		if off == 0 || int64(i)*perBlock >= c.nClusters {
			if off != 0 {
				c.use("refcount block", off, img.cs)
			}
			continue
		}
		c.use("refcount block", off, img.cs)
		if off%img.cs != 0 || off+img.cs > img.fileSize {
			continue
		}
		if _, err := img.r.ReadAt(block, off); err != nil {
			return nil, fmt.Errorf("reading refcount block %d: %w", i, err)
		}
		for k := range perBlock {
			cl := int64(i)*perBlock + k
			if cl >= c.nClusters {
				break
			}
			var v uint64
			switch width {
			case 1:
				v = uint64(block[k])
			case 2:
				v = uint64(binary.BigEndian.Uint16(block[2*k:]))
			case 4:
				v = uint64(binary.BigEndian.Uint32(block[4*k:]))
			default:
				v = binary.BigEndian.Uint64(block[8*k:])
			}
			stored[cl] = uint32(min(v, 1<<32-1))
		}
	}
	return stored, nil
}
