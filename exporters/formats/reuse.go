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
	image   *os.File
}

// openReuse opens r for format f; nil r gives nil. Files that cannot be
// opened are errors, since the caller asked for them by name; whether they
// fit is for the writer to check, and a misfit only costs time.
func openReuse(r *Reuse, f Format) (*openedReuse, error) {
	if r == nil {
		return nil, nil
	}
	if r.Raw == "" || r.Image == "" {
		return nil, errors.New("reuse needs both the base raw disk and its converted image")
	}
	if f.NoReuse != "" {
		return &openedReuse{ignored: f.NoReuse}, nil
	}
	raw, err := rawdisk.Open(r.Raw)
	if err != nil {
		return nil, fmt.Errorf("reuse raw disk: %w", err)
	}
	image, err := os.Open(r.Image)
	if err != nil {
		raw.Close()
		return nil, fmt.Errorf("reuse image: %w", err)
	}
	st, err := image.Stat()
	if err != nil {
		raw.Close()
		image.Close()
		return nil, fmt.Errorf("reuse image: %w", err)
	}
	return &openedReuse{
		base: &reuse.Base{Raw: raw, Image: image, ImageSize: st.Size()},
		raw:  raw, image: image,
	}, nil
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
	if o == nil || o.base == nil {
		return
	}
	o.raw.Close()
	o.image.Close()
}
