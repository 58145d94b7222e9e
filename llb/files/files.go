// Package files writes spec files into an LLB state.
package files

import (
	"os"
	"path"
	"strconv"

	"github.com/moby/buildkit/client/llb"
	"github.com/strata-dev/strata/spec"
)

// Write writes files into st in one FileOp, creating parent directories, so a
// dozen small config files cost one vertex rather than a dozen.
func Write(st llb.State, files []spec.File, opts ...llb.ConstraintsOpt) llb.State {
	var action *llb.FileAction
	for _, f := range files {
		dir := path.Dir(f.Path)
		if action == nil {
			action = llb.Mkdir(dir, 0o755, llb.WithParents(true))
		} else {
			action = action.Mkdir(dir, 0o755, llb.WithParents(true))
		}
		action = action.Mkfile(f.Path, Mode(f.Mode), []byte(f.Content))
	}
	if action == nil {
		return st
	}
	return st.File(action, opts...)
}

// Mode parses an octal mode string; empty or invalid (which spec validation
// has already rejected) means 0644.
func Mode(s string) os.FileMode {
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil {
		return 0o644
	}
	return os.FileMode(m)
}
