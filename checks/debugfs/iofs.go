package debugfs

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"syscall"
	"time"
)

var errNotRegular = errors.New("not a regular file")

// The io/fs interfaces FS provides.
var (
	_ fs.ReadDirFS  = (*FS)(nil)
	_ fs.ReadFileFS = (*FS)(nil)
	_ fs.StatFS     = (*FS)(nil)
	_ fs.ReadLinkFS = (*FS)(nil)
)

// Lstat describes name without following a final symlink. Sys returns a
// *syscall.Stat_t with the inode number, mode, owner and size, as
// os.Lstat's does.
func (f *FS) Lstat(name string) (fs.FileInfo, error) {
	e, err := f.resolve(name, false, true)
	if err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: name, Err: err}
	}
	return fileInfo{name: base(name), inode: e}, nil
}

// Stat describes name, following symlinks.
func (f *FS) Stat(name string) (fs.FileInfo, error) {
	e, err := f.resolve(name, true, true)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	return fileInfo{name: base(name), inode: e}, nil
}

// ReadLink returns a symlink's target as stored.
func (f *FS) ReadLink(name string) (string, error) {
	e, err := f.resolve(name, false, true)
	if err == nil && !e.isLink() {
		err = fs.ErrInvalid
	}
	if err == nil {
		var t string
		if t, err = f.target(e, true); err == nil {
			return t, nil
		}
	}
	return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
}

// ReadDir lists a directory, sorted by name.
func (f *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	ents, err := f.readDir(name)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	out := make([]fs.DirEntry, len(ents))
	for i, e := range ents {
		out[i] = dirEntry{fileInfo{name: e.name, inode: e.inode}}
	}
	return out, nil
}

func (f *FS) readDir(name string) ([]dirent, error) {
	e, err := f.resolve(name, true, true)
	if err != nil {
		return nil, err
	}
	if !e.isDir() {
		return nil, syscall.ENOTDIR
	}
	return f.listing(e, true)
}

// ReadFile returns a regular file's content, symlinks followed. Files of
// up to MaxCached bytes are kept for the next call.
func (f *FS) ReadFile(name string) ([]byte, error) {
	e, err := f.resolve(name, true, true)
	if err == nil && !e.isRegular() {
		err = errNotRegular
	}
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	if b, ok := f.data[e.ino]; ok {
		return bytes.Clone(b), nil
	}
	var out []byte
	err = f.catEach([]inode{e}, func(_ inode, r io.Reader) error {
		out, err = io.ReadAll(r)
		return err
	})
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	if e.size <= MaxCached {
		f.data[e.ino] = out
	}
	return bytes.Clone(out), nil
}

// Open opens a directory or a regular file. A regular file's content is
// read in full first (small ones from memory, others from a scratch copy).
func (f *FS) Open(name string) (fs.File, error) {
	e, err := f.resolve(name, true, true)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	info := fileInfo{name: base(name), inode: e}
	switch {
	case e.isDir():
		ents, err := f.ReadDir(name)
		if err != nil {
			return nil, err
		}
		return &dirFile{info: info, ents: ents}, nil
	case e.isRegular():
		if e.size > MaxCached {
			return f.openLarge(name, info)
		}
		b, err := f.ReadFile(name)
		if err != nil {
			return nil, err
		}
		return &memFile{info: info, Reader: bytes.NewReader(b)}, nil
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: errNotRegular}
}

// openLarge dumps a big file to the scratch directory and unlinks it at
// once, so that closing the file frees the space.
func (f *FS) openLarge(name string, info fileInfo) (fs.File, error) {
	p := f.tmpPath("open")
	if _, err := f.run([]string{"dump <" + strconv.FormatUint(info.ino, 10) + "> " + quote(p)}); err != nil {
		return nil, err
	}
	file, err := os.Open(p)
	os.Remove(p)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return &osFile{info: info, f: file, r: io.LimitReader(file, info.size)}, nil
}

func base(name string) string {
	if name == "." {
		return "."
	}
	return path.Base(name)
}

// fileInfo is an entry as fs.FileInfo.
type fileInfo struct {
	name string
	inode
}

func (i fileInfo) Name() string       { return i.name }
func (i fileInfo) Size() int64        { return i.size }
func (i fileInfo) ModTime() time.Time { return time.Time{} } // not read: no check needs it
func (i fileInfo) IsDir() bool        { return i.isDir() }
func (i fileInfo) Mode() fs.FileMode  { return fileMode(i.mode) }
func (i fileInfo) Sys() any {
	return &syscall.Stat_t{Ino: i.ino, Mode: i.mode, Uid: i.uid, Gid: i.gid, Size: i.size}
}

// fileMode converts an st_mode to fs.FileMode, as os does.
func fileMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	for _, t := range modeTypes {
		if m&modeType == t.st {
			mode |= t.fs
		}
	}
	for _, b := range modeBits {
		if m&b.st != 0 {
			mode |= b.fs
		}
	}
	return mode
}

var modeTypes = []struct {
	st uint32
	fs fs.FileMode
}{
	{modeDir, fs.ModeDir},
	{modeSymlink, fs.ModeSymlink},
	{0o010000, fs.ModeNamedPipe},
	{0o140000, fs.ModeSocket},
	{0o020000, fs.ModeDevice | fs.ModeCharDevice},
	{0o060000, fs.ModeDevice},
}

var modeBits = []struct {
	st uint32
	fs fs.FileMode
}{
	{0o4000, fs.ModeSetuid},
	{0o2000, fs.ModeSetgid},
	{0o1000, fs.ModeSticky},
}

type dirEntry struct{ fileInfo }

func (d dirEntry) Type() fs.FileMode          { return d.Mode().Type() }
func (d dirEntry) Info() (fs.FileInfo, error) { return d.fileInfo, nil }

type dirFile struct {
	info fileInfo
	ents []fs.DirEntry
	off  int
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.name, Err: syscall.EISDIR}
}
func (d *dirFile) Close() error { return nil }

// ReadDir follows fs.ReadDirFile's contract.
func (d *dirFile) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.ents[d.off:]
	if n <= 0 {
		d.off = len(d.ents)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(rest))
	d.off += n
	return rest[:n], nil
}

type memFile struct {
	info fileInfo
	*bytes.Reader
}

func (m *memFile) Stat() (fs.FileInfo, error) { return m.info, nil }
func (m *memFile) Close() error               { return nil }

type osFile struct {
	info fileInfo
	f    *os.File
	r    io.Reader
}

func (o *osFile) Stat() (fs.FileInfo, error) { return o.info, nil }
func (o *osFile) Read(p []byte) (int, error) { return o.r.Read(p) }
func (o *osFile) Close() error               { return o.f.Close() }
