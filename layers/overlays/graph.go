package overlays

import (
	"strconv"

	"github.com/moby/buildkit/client/llb"
	"github.com/strata-dev/strata/llb/files"
)

// Graph returns the distro's overlay graph: its files on scratch. It is its own
// graph, merged over the OS graph, so editing an overlay file rebuilds neither
// the OS nor the Kubernetes layer.
func (d Distro) Graph() llb.State {
	var b files.Batch
	for _, f := range d.Files {
		b.File(f)
	}
	for _, l := range d.Links {
		b.Symlink(l.Target, l.Path)
	}
	return b.Apply(files.Root(), llb.WithCustomName("[overlay "+d.Defaults.Name+"] write "+filesSummary(d)))
}

func filesSummary(d Distro) string {
	if n := len(d.Files) + len(d.Links); n != 1 {
		return strconv.Itoa(n) + " files"
	}
	if len(d.Files) == 1 {
		return d.Files[0].Path
	}
	return d.Links[0].Path
}
