package debugfs

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"sort"
)

const (
	// MaxCached is the largest file whose content FS keeps in memory once
	// read: configuration and databases, not binaries.
	MaxCached = 1 << 20
	// maxCmdsPerRun bounds one run's command list and output.
	maxCmdsPerRun = 20000
)

// Prefetch reads, in as few debugfs runs as the deepest name needs,
// whatever looking the names up takes (the directories on the way and
// the symlinks followed), the listing of each name that is a directory,
// and the content of each that is a regular file of at most MaxCached
// bytes. Names that do not exist are no error: looking them up later
// costs nothing.
func (f *FS) Prefetch(names []string) error {
	for {
		needs := map[need]bool{}
		for _, name := range names {
			e, err := f.resolve(name, true, false)
			if n, ok := isNeed(err); ok {
				needs[n] = true
				continue
			}
			if err == nil && e.isDir() {
				if _, err := f.listing(e, false); err != nil {
					if n, ok := isNeed(err); ok {
						needs[n] = true
					}
				}
			}
		}
		if len(needs) == 0 {
			break
		}
		if err := f.fetchAll(keys(needs)); err != nil {
			return err
		}
	}
	var files []inode
	seen := map[uint64]bool{}
	for _, name := range names {
		e, err := f.resolve(name, true, false)
		if err != nil || !e.isRegular() || e.size > MaxCached || seen[e.ino] {
			continue
		}
		if _, ok := f.data[e.ino]; !ok {
			files = append(files, e)
			seen[e.ino] = true
		}
	}
	return f.cacheData(files)
}

// PrefetchTree lists every directory under name (which may be a symlink
// to one) and reads every symlink's target there, one debugfs run per
// level of depth. Symlinks to directories are not descended into, as
// fs.WalkDir does not.
func (f *FS) PrefetchTree(name string) error {
	if err := f.Prefetch([]string{name}); err != nil {
		return err
	}
	top, err := f.resolve(name, true, false)
	if err != nil || !top.isDir() {
		return nil
	}
	frontier := []inode{top}
	seen := map[uint64]bool{top.ino: true}
	for len(frontier) > 0 {
		var needs []need
		for _, d := range frontier {
			if _, ok := f.dirs[d.ino]; !ok && f.bad[d.ino] == nil {
				needs = append(needs, need{inode: d})
			}
		}
		if err := f.fetchAll(needs); err != nil {
			return err
		}
		var next []inode
		needs = needs[:0]
		for _, d := range frontier {
			for _, e := range f.dirs[d.ino] {
				switch {
				case e.isDir() && !seen[e.ino]:
					seen[e.ino] = true
					next = append(next, e.inode)
				case e.isLink():
					if _, ok := f.links[e.ino]; !ok && f.bad[e.ino] == nil {
						needs = append(needs, need{link: true, inode: e.inode})
					}
				}
			}
		}
		if err := f.fetchAll(needs); err != nil {
			return err
		}
		frontier = next
	}
	return nil
}

// fetchAll is fetch in runs of a bounded size.
func (f *FS) fetchAll(needs []need) error {
	for len(needs) > 0 {
		n := min(len(needs), maxCmdsPerRun/2)
		if err := f.fetch(needs[:n]); err != nil {
			return err
		}
		needs = needs[n:]
	}
	return nil
}

// cacheData reads small files into memory, many per run.
func (f *FS) cacheData(files []inode) error {
	return f.catEach(files, func(e inode, r io.Reader) error {
		b, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		f.data[e.ino] = b
		return nil
	})
}

// ReadFiles calls fn with the content of each named regular file (symlinks
// followed), in order, streamed from a few debugfs runs: reading a whole
// image takes little memory and no scratch space. A name that is missing
// or not a regular file is an error, as are fn's errors.
func (f *FS) ReadFiles(names []string, fn func(name string, r io.Reader) error) error {
	if err := f.Prefetch(parents(names)); err != nil {
		return err
	}
	files := make([]inode, len(names))
	for i, name := range names {
		e, err := f.resolve(name, true, true)
		if err != nil {
			return &fs.PathError{Op: "read", Path: name, Err: err}
		}
		if !e.isRegular() {
			return &fs.PathError{Op: "read", Path: name, Err: errNotRegular}
		}
		files[i] = e
	}
	i := 0
	return f.catEach(files, func(_ inode, r io.Reader) error {
		name := names[i]
		i++
		return fn(name, r)
	})
}

// catEach hands fn each file's content in order: from memory when
// cached, otherwise streamed from debugfs ("cat" of each inode, up to
// maxCmdsPerRun per run) through a pipe, so nothing is written to disk.
func (f *FS) catEach(files []inode, fn func(inode, io.Reader) error) error {
	var batch []inode
	flush := func() error {
		err := f.catBatch(batch, fn)
		batch = batch[:0]
		return err
	}
	for _, e := range files {
		if b, ok := f.data[e.ino]; ok {
			// Keep the order: what is queued goes first.
			if err := flush(); err != nil {
				return err
			}
			if err := fn(e, bytes.NewReader(b)); err != nil {
				return err
			}
			continue
		}
		if batch = append(batch, e); len(batch) == maxCmdsPerRun {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// catEnd is the command after the last "cat": its echo marks the end of
// the last file's bytes. It prints nothing.
const catEnd = "cd <2>"

// maxPadding bounds the zeros debugfs may print past a file's size: it
// prints an inline-data file's whole 60-byte inode area.
const maxPadding = 4096

// catBatch streams one run's files. debugfs prints each file's bytes right
// after the echo of its command, so the sizes from the listings say where
// each ends, and the next echo, which must follow, proves the stream is in
// step (a file debugfs could not read would print nothing, and the next
// echo would not be where it belongs).
func (f *FS) catBatch(files []inode, fn func(inode, io.Reader) error) (err error) {
	if len(files) == 0 {
		return nil
	}
	var in bytes.Buffer
	for _, e := range files {
		fmt.Fprintf(&in, "cat <%d>\n", e.ino)
	}
	in.WriteString(catEnd + "\n")
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	cmd := f.command(ctx, &in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("debugfs: %w", err)
	}
	f.runs++
	defer func() {
		if err != nil {
			cancel() // stop debugfs rather than read what is left
		}
		if werr := cmd.Wait(); err == nil && werr != nil {
			err = fmt.Errorf("debugfs %s: %w: %s", f.device, werr, firstLines(stderr.Bytes(), 3))
		}
	}()
	br := bufio.NewReaderSize(out, 1<<20)
	outOfStep := func(what string) error {
		cancel() // the deferred Wait reaps debugfs
		return fmt.Errorf("debugfs %s: output out of step %s: %s", f.device, what, firstLines(stderr.Bytes(), 3))
	}
	for i, e := range files {
		if !readEcho(br, fmt.Sprintf("cat <%d>", e.ino), i > 0) {
			return outOfStep(fmt.Sprintf("before inode %d", e.ino))
		}
		lr := &io.LimitedReader{R: br, N: e.size}
		if err := fn(e, lr); err != nil {
			return err
		}
		if _, err := io.Copy(io.Discard, lr); err != nil {
			return err
		}
		if lr.N > 0 {
			return outOfStep(fmt.Sprintf("in inode %d (%d bytes short)", e.ino, lr.N))
		}
	}
	if !readEcho(br, catEnd, true) {
		return outOfStep("after the last file")
	}
	_, err = io.Copy(io.Discard, br)
	return err
}

// readEcho consumes debugfs's echo of cmd, after up to maxPadding zero
// bytes when padding may precede it.
func readEcho(br *bufio.Reader, cmd string, padding bool) bool {
	for skipped := 0; padding && skipped < maxPadding; skipped++ {
		b, err := br.Peek(1)
		if err != nil || b[0] != 0 {
			break
		}
		br.Discard(1)
	}
	want := "debugfs: " + cmd + "\n"
	got := make([]byte, len(want))
	if _, err := io.ReadFull(br, got); err != nil {
		return false
	}
	return string(got) == want
}

// parents lists the directory of each name, for one Prefetch.
func parents(names []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range names {
		d := dirOf(n)
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

func dirOf(name string) string {
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == '/' {
			return name[:i]
		}
	}
	return "."
}

func keys(m map[need]bool) []need {
	out := make([]need, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	// In inode order, so that runs are the same from one call to the next.
	sort.Slice(out, func(i, j int) bool {
		if out[i].ino != out[j].ino {
			return out[i].ino < out[j].ino
		}
		return !out[i].link && out[j].link
	})
	return out
}
