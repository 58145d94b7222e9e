// Package files writes spec files, directories and symlinks into an LLB
// state, batched into one FileOp so that a dozen small config files cost one
// vertex rather than a dozen.
package files

import (
	"os"
	"path"
	"strconv"

	"github.com/moby/buildkit/client/llb"
	"github.com/strata-dev/strata/spec"
)

// Batch collects file actions for one FileOp.
type Batch struct {
	chain *llb.FileAction
}

func (b *Batch) push(first func() *llb.FileAction, next func(*llb.FileAction) *llb.FileAction) {
	if b.chain == nil {
		b.chain = first()
	} else {
		b.chain = next(b.chain)
	}
}

// Mkdir creates dir and its parents, 0755.
func (b *Batch) Mkdir(dir string) {
	b.push(
		func() *llb.FileAction { return llb.Mkdir(dir, 0o755, llb.WithParents(true)) },
		func(a *llb.FileAction) *llb.FileAction { return a.Mkdir(dir, 0o755, llb.WithParents(true)) },
	)
}

// File writes f, creating its parent directories.
func (b *Batch) File(f spec.File) {
	b.Mkdir(path.Dir(f.Path))
	b.chain = b.chain.Mkfile(f.Path, Mode(f.Mode), []byte(f.Content))
}

// Symlink creates link pointing at target, creating the link's parents.
func (b *Batch) Symlink(target, link string) {
	b.Mkdir(path.Dir(link))
	b.chain = b.chain.Symlink(target, link)
}

// Apply runs the batch on st as one FileOp; an empty batch returns st.
func (b *Batch) Apply(st llb.State, opts ...llb.ConstraintsOpt) llb.State {
	if b.chain == nil {
		return st
	}
	return st.File(b.chain, opts...)
}

// Write writes files into st in one FileOp.
func Write(st llb.State, files []spec.File, opts ...llb.ConstraintsOpt) llb.State {
	var b Batch
	for _, f := range files {
		b.File(f)
	}
	return b.Apply(st, opts...)
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

// Root is where graphs that start from nothing start. BuildKit never exports
// the results of root vertices to a remote cache (roots are meant to be
// sources, resolved anew by every builder), so a graph whose first step
// writes its own files would re-run on every builder that imports the cache,
// and so would everything that depends on its output's content. On top of
// this tiny shared root, such a step is exported and imported like any other.
func Root() llb.State {
	return llb.Scratch().File(llb.Mkdir("/etc", 0o755), llb.WithCustomName("[root] empty tree"))
}

// PayloadRoot is Root for what a system extension carries, which may hold
// nothing outside /usr and /opt.
func PayloadRoot() llb.State {
	return llb.Scratch().File(llb.Mkdir("/usr", 0o755), llb.WithCustomName("[root] empty /usr"))
}
