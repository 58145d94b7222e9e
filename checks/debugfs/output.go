package debugfs

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strconv"
)

// Mode bits as ext4 stores them (the same as Linux's st_mode).
const (
	modeType    = 0o170000
	modeDir     = 0o040000
	modeRegular = 0o100000
	modeSymlink = 0o120000
)

// inode is what a directory listing says about an entry.
type inode struct {
	ino      uint64
	mode     uint32
	uid, gid uint32
	size     int64
}

func (i inode) isDir() bool     { return i.mode&modeType == modeDir }
func (i inode) isRegular() bool { return i.mode&modeType == modeRegular }
func (i inode) isLink() bool    { return i.mode&modeType == modeSymlink }

// dirent is one entry of a directory.
type dirent struct {
	name string
	inode
}

// parseListing reads the output of "ls -p", one entry per line as
// "/INODE/MODE/UID/GID/NAME/SIZE/" (SIZE empty for directories), followed
// by an empty line. Slots with inode 0 are unused and skipped. It returns the directory's own entry (".") and the
// others, "." and ".." left out, sorted by name. A name may hold anything
// but "/" and NUL, newlines included, so the fields are cut at slashes, not
// at line ends.
func parseListing(b []byte) (self inode, ents []dirent, err error) {
	haveSelf := false
	for len(b) > 0 {
		if b[0] == '\n' {
			b = b[1:]
			continue
		}
		var fields [6][]byte
		if b[0] != '/' {
			return inode{}, nil, fmt.Errorf("unexpected listing line %q", firstLine(b))
		}
		rest := b[1:]
		for i := range fields {
			j := bytes.IndexByte(rest, '/')
			if j < 0 {
				return inode{}, nil, fmt.Errorf("truncated listing line %q", firstLine(b))
			}
			fields[i], rest = rest[:j], rest[j+1:]
		}
		if len(rest) > 0 && rest[0] == '\n' {
			rest = rest[1:]
		}
		b = rest
		e, err := parseEntry(fields)
		if err != nil {
			return inode{}, nil, err
		}
		switch {
		case e.ino == 0:
			// An unused slot: lost+found lists its preallocated blocks.
		case e.name == ".":
			self, haveSelf = e.inode, true
		case e.name == "..":
		default:
			ents = append(ents, e)
		}
	}
	if !haveSelf {
		return inode{}, nil, errNotListed
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].name < ents[j].name })
	return self, ents, nil
}

func parseEntry(f [6][]byte) (dirent, error) {
	ino, err1 := strconv.ParseUint(string(f[0]), 10, 64)
	mode, err2 := strconv.ParseUint(string(f[1]), 8, 32)
	uid, err3 := strconv.ParseUint(string(f[2]), 10, 32)
	gid, err4 := strconv.ParseUint(string(f[3]), 10, 32)
	var size uint64
	var err5 error
	if len(f[5]) > 0 {
		size, err5 = strconv.ParseUint(string(f[5]), 10, 63)
	}
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
		return dirent{}, fmt.Errorf("listing entry %q: %w", f[4], err)
	}
	if len(f[4]) == 0 && ino != 0 {
		// Only a corrupt directory holds one; listed, it would make
		// paths such as "etc/" that io/fs callers cannot look up.
		return dirent{}, fmt.Errorf("listing entry of inode %d has no name", ino)
	}
	return dirent{name: string(f[4]), inode: inode{ino: ino, mode: uint32(mode), uid: uint32(uid), gid: uint32(gid), size: int64(size)}}, nil
}

// fastLinkPrefix starts the line of "stat" that holds a target stored in
// the inode itself (short targets, and inline-data ones).
var fastLinkPrefix = []byte(`Fast link dest: "`)

// parseFastLink finds the target in "stat" output of a symlink whose
// target is size bytes long. The target is printed raw between quotes, so
// the known length, not the closing quote, says where it ends.
func parseFastLink(b []byte, size int64) (string, bool) {
	i := bytes.Index(b, fastLinkPrefix)
	if i < 0 {
		return "", false
	}
	rest := b[i+len(fastLinkPrefix):]
	if int64(len(rest)) <= size || rest[size] != '"' {
		return "", false
	}
	return string(rest[:size]), true
}

func firstLine(b []byte) string {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	if len(b) > 80 {
		b = b[:80]
	}
	return string(b)
}
