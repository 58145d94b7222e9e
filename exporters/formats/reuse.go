package formats

import (
	"errors"
	"fmt"
	"os"

	"github.com/strata-dev/strata/exporters/formats/rawdisk"
	"github.com/strata-dev/strata/exporters/formats/reuse"
)

// openedReuse is Options.Reuse opened for a format's writer.
type openedReuse struct {
	base    *reuse.Base // nil when the format ignores reuse
	ignored string      // why it does
	raw     *rawdisk.Disk
	ownsRaw bool // raw was opened here, not passed in
	image   *os.File
}

// openReuse opens r for format f; nil r gives nil. Files that cannot be
// opened are errors, since the caller asked for them by name; whether they
// fit is for the writer to check, and a misfit only costs time. When r.Raw
// is the file src, the disk opened from it (src's, or a layered disk's
// base) is used as is, so the writer can tell which blocks are unchanged
// without comparing them (rawdisk.Disk.Unchanged).
func openReuse(r *Reuse, f Format, src string, srcDisk *rawdisk.Disk) (*openedReuse, error) {
	if r == nil {
		return nil, nil
	}
	if r.Raw == "" || r.Image == "" {
		return nil, errors.New("reuse needs both the base raw disk and its converted image")
	}
	if f.NoReuse != "" {
		return &openedReuse{ignored: f.NoReuse}, nil
	}
	o := &openedReuse{raw: srcDisk}
	if !sameFile(r.Raw, src) {
		raw, err := rawdisk.Open(r.Raw)
		if err != nil {
			return nil, fmt.Errorf("reuse raw disk: %w", err)
		}
		o.raw, o.ownsRaw = raw, true
	}
	image, err := os.Open(r.Image)
	if err != nil {
		o.close()
		return nil, fmt.Errorf("reuse image: %w", err)
	}
	o.image = image
	st, err := image.Stat()
	if err != nil {
		o.close()
		return nil, fmt.Errorf("reuse image: %w", err)
	}
	o.base = &reuse.Base{Raw: o.raw, Image: image, ImageSize: st.Size()}
	return o, nil
}

func sameFile(a, b string) bool {
	sa, err := os.Stat(a)
	if err != nil {
		return false
	}
	sb, err := os.Stat(b)
	return err == nil && os.SameFile(sa, sb)
}

// writerBase is what the format's writer gets: nil unless it reuses.
func (o *openedReuse) writerBase() *reuse.Base {
	if o == nil {
		return nil
	}
	return o.base
}

// stats is what Result.Reuse reports: nil when no reuse was asked.
func (o *openedReuse) stats() *ReuseStats {
	switch {
	case o == nil:
		return nil
	case o.base == nil:
		return &ReuseStats{Ignored: o.ignored}
	}
	s := o.base.Stats
	return &s
}

func (o *openedReuse) close() {
	if o == nil {
		return
	}
	if o.ownsRaw {
		o.raw.Close()
	}
	if o.image != nil {
		o.image.Close()
	}
}
