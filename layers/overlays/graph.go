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
	return files.Write(files.Root(), d.Files,
		llb.WithCustomName("[overlay "+d.Defaults.Name+"] write "+filesSummary(d)))
}

func filesSummary(d Distro) string {
	if len(d.Files) == 1 {
		return d.Files[0].Path
	}
	return strconv.Itoa(len(d.Files)) + " files"
}
