// Package atomicfile writes an output under a temporary name beside its
// final one and renames it into place only when it is complete, so a
// failed or killed run never leaves a partial artifact under the name a
// user or a pipeline reads.
//
// Temporary names start with a dot and hold Marker followed by random
// characters (".disk.raw.strata-partial-1234567890"): a glob such as
// *.raw never picks one up, and a rerun never collides with one a
// SIGKILLed run left behind. Those are safe to delete.
package atomicfile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Marker is in every temporary name this package makes.
const Marker = ".strata-partial-"

// maxBase keeps a temporary name within the 255 bytes a file name may
// have: a final name that long leaves no room for the dot and Marker.
const maxBase = 200

// Pattern is the os.CreateTemp or os.MkdirTemp pattern for something
// temporary named after name (a base name): "." + name + Marker + "*".
func Pattern(name string) string {
	if len(name) > maxBase {
		name = name[:maxBase]
	}
	return "." + name + Marker + "*"
}

// File is an output being written under its temporary name.
type File struct {
	*os.File
	final  string
	closed bool
	done   bool
}

// Create makes the temporary file for final, empty, with mode perm
// (before the umask), as os.OpenFile does; nothing exists under final
// until Commit.
func Create(final string, perm os.FileMode) (*File, error) {
	dir, prefix := dirOf(final), strings.TrimSuffix(Pattern(filepath.Base(final)), "*")
	for {
		name := filepath.Join(dir, prefix+strconv.FormatUint(rand.Uint64(), 36))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("creating %s: %w", final, Explain(err, final))
		}
		return &File{File: f, final: final}, nil
	}
}

// Final is the name the file gets on Commit.
func (f *File) Final() string { return f.final }

// Close closes the file and may be called again, by Commit or Abort: a
// stream's reader, such as BuildKit's exporter, closes what it was given.
func (f *File) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	return f.File.Close()
}

// Commit closes the file and renames it to its final name, replacing
// what is there.
func (f *File) Commit() error {
	if err := f.Close(); err != nil {
		return f.Abort(fmt.Errorf("closing %s: %w", f.final, err))
	}
	if err := os.Rename(f.Name(), f.final); err != nil {
		return f.Abort(fmt.Errorf("renaming %s into place: %w", f.final, err))
	}
	f.done = true
	return nil
}

// Abort removes the temporary file, unless it was committed, and returns
// err, told that the disk is full when it is.
func (f *File) Abort(err error) error {
	if f.done {
		return err
	}
	f.done = true
	err = Explain(err, f.final)
	f.Close()
	os.Remove(f.Name())
	return err
}

// AbortOnError calls Abort if *err is set; it is for defer, in a function
// whose named result is err.
func (f *File) AbortOnError(err *error) {
	if *err != nil {
		*err = f.Abort(*err)
	}
}

// WriteFile writes data to final with mode perm (umask aside), as
// os.WriteFile does, through a temporary file.
func WriteFile(final string, data []byte, perm os.FileMode) (err error) {
	f, err := Create(final, perm)
	if err != nil {
		return err
	}
	defer f.AbortOnError(&err)
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", final, err)
	}
	return f.Commit()
}

// Rename moves tmp, a file or directory a tool wrote in final's
// directory, into place, or removes it when that fails.
func Rename(tmp, final string) error {
	if err := os.Rename(tmp, final); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("renaming %s into place: %w", final, err)
	}
	return nil
}

// Explain says that the disk holding path is full when err is ENOSPC, or
// when that filesystem has almost nothing left (a tool that ran out of
// space and said so only in its output), and what to do; other errors it
// returns as they are.
func Explain(err error, path string) error {
	if err == nil || errors.Is(err, errDiskFull) || errors.Is(err, context.Canceled) {
		return err
	}
	dir := dirOf(path)
	if !errors.Is(err, unix.ENOSPC) && !nearlyFull(dir) {
		return err
	}
	return fmt.Errorf("writing %s: %w: free space in %s or write the output elsewhere: %w", path, errDiskFull, dir, err)
}

var errDiskFull = errors.New("the disk is full")

// nearlyFull says dir's filesystem has under 1 MiB free for this user.
func nearlyFull(dir string) bool {
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) != nil {
		return false
	}
	return st.Bavail*uint64(st.Bsize) < 1<<20
}

func dirOf(path string) string {
	if dir := filepath.Dir(path); dir != "" {
		return dir
	}
	return "."
}
