package frontend

import (
	"context"
	"fmt"
	"net/url"
	"path"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/frontend/dockerui"
	digest "github.com/opencontainers/go-digest"
	"github.com/strata-dev/strata/layers/node"
	"github.com/strata-dev/strata/spec"
)

// ContextOSDisk replaces os.baseDisk's url or path: a directory holding
// the vendor's disk image alone, or its URL (--build-context
// os-disk=https://...).
const ContextOSDisk = "os-disk"

// vendorDisk fetches os.baseDisk's image: the os-disk context wins, then
// the URL, downloaded by BuildKit, which checks the sha256 and caches the
// file by it (a sha512 is import-disk's to check), then the path in the
// build context.
func vendorDisk(ctx context.Context, bc *dockerui.Client, sp *spec.Spec, src *dockerui.Source) (*node.VendorDisk, error) {
	d := sp.Image.OS.BaseDisk
	locate := locator(sp, src)
	st, _, err := namedContext(ctx, bc, ContextOSDisk)
	if err != nil {
		return nil, err
	}
	if st != nil {
		return &node.VendorDisk{Dir: *st, From: "from context " + ContextOSDisk}, nil
	}
	switch {
	case d.URL != "":
		name := "disk.img"
		if u, err := url.Parse(d.URL); err == nil && path.Base(u.Path) != "/" && path.Base(u.Path) != "." {
			name = path.Base(u.Path)
		}
		opts := []llb.HTTPOption{llb.Filename(name), llb.WithCustomName("[os] fetch the base disk " + d.URL)}
		if loc := locate("os.baseDisk.url"); loc != nil {
			opts = append(opts, loc)
		}
		if d.SHA256 != "" {
			// BuildKit checks only sha256 digests; a sha512 is checked
			// by strata import-disk before the disk is used.
			opts = append(opts, llb.Checksum(digest.NewDigestFromEncoded(digest.SHA256, d.SHA256)))
		}
		fetched := llb.HTTP(d.URL, opts...)
		return &node.VendorDisk{Dir: fetched, From: d.URL}, nil
	case d.Path != "":
		main, err := bc.MainContext(ctx, llb.FollowPaths([]string{d.Path}),
			llb.WithCustomName("[os] load the base disk "+d.Path+" from the build context"))
		if err != nil {
			return nil, fmt.Errorf("loading os.baseDisk.path %s from the build context: %w", d.Path, err)
		}
		copyOpts := []llb.ConstraintsOpt{llb.WithCustomName("[os] take " + d.Path + " alone")}
		if loc := locate("os.baseDisk.path"); loc != nil {
			// A path the context lacks fails here: the error shows the line.
			copyOpts = append(copyOpts, loc)
		}
		one := llb.Scratch().File(llb.Copy(*main, d.Path, "/"+path.Base(d.Path)), copyOpts...)
		return &node.VendorDisk{Dir: one, From: d.Path}, nil
	}
	return nil, withSource(&spec.Error{
		File: sp.File, Pos: positionOr(sp, "os.baseDisk", "os"), Field: "os.baseDisk",
		Message: "no disk image: set os.baseDisk.url (with its sha256) or os.baseDisk.path, " +
			"or pass the build context " + ContextOSDisk + " (e.g. --build-context " + ContextOSDisk + "=./vendor, a directory holding the image alone)",
	}, src)
}
