package debugfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
	"syscall"
)

// maxLinks bounds the symlinks one lookup follows, as Linux's ELOOP does.
const maxLinks = 40

// fastLinkMax is the longest target ext4 keeps in the inode itself
// (i_block, 60 bytes, minus nothing: a 60-byte target needs a block).
const fastLinkMax = 59

// need is something a lookup is waiting for: the listing of a directory,
// or the target of a symlink.
type need struct {
	link bool
	inode
}

// needError is what a lookup in cache-only mode returns when it cannot go
// on without reading more; batch operations collect them.
type needError struct{ need need }

func (e *needError) Error() string { return fmt.Sprintf("inode %d not read yet", e.need.ino) }

// resolve looks name (an io/fs path: "etc/hostname", "." for the root) up,
// following symlinks on the way, and the final one too if follow is set.
// Absolute targets start again at the image's root and ".." stops there,
// so no lookup leaves the image. With fetch unset nothing is read: what is
// missing comes back as a *needError.
func (f *FS) resolve(name string, follow, fetch bool) (inode, error) {
	if !fs.ValidPath(name) {
		return inode{}, fs.ErrInvalid
	}
	stack := []inode{f.root} // the directories from the root down
	todo := components(name)
	followed := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case ".":
			continue
		case "..":
			if len(stack) > 1 {
				stack = stack[:len(stack)-1]
			}
			continue
		}
		cur := stack[len(stack)-1]
		if !cur.isDir() {
			return inode{}, fs.ErrNotExist // ENOTDIR: nothing is there
		}
		ents, err := f.listing(cur, fetch)
		if err != nil {
			return inode{}, err
		}
		e, ok := lookup(ents, c)
		if !ok {
			return inode{}, fs.ErrNotExist
		}
		if e.isLink() && (len(todo) > 0 || follow) {
			if followed++; followed > maxLinks {
				return inode{}, syscall.ELOOP
			}
			target, err := f.target(e.inode, fetch)
			if err != nil {
				return inode{}, err
			}
			if strings.HasPrefix(target, "/") {
				stack = stack[:1]
			}
			todo = append(components(target), todo...)
			continue
		}
		stack = append(stack, e.inode)
	}
	return stack[len(stack)-1], nil
}

func components(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}

func lookup(ents []dirent, name string) (dirent, bool) {
	i := sort.Search(len(ents), func(i int) bool { return ents[i].name >= name })
	if i < len(ents) && ents[i].name == name {
		return ents[i], true
	}
	return dirent{}, false
}

// listing returns a directory's entries, reading them if fetch is set.
func (f *FS) listing(dir inode, fetch bool) ([]dirent, error) {
	if ents, ok := f.dirs[dir.ino]; ok {
		return ents, nil
	}
	if err := f.bad[dir.ino]; err != nil {
		return nil, err
	}
	n := need{inode: dir}
	if !fetch {
		return nil, &needError{n}
	}
	if err := f.fetch([]need{n}); err != nil {
		return nil, err
	}
	return f.listing(dir, false)
}

// target returns a symlink's target, reading it if fetch is set.
func (f *FS) target(link inode, fetch bool) (string, error) {
	if t, ok := f.links[link.ino]; ok {
		return t, nil
	}
	if err := f.bad[link.ino]; err != nil {
		return "", err
	}
	n := need{link: true, inode: link}
	if !fetch {
		return "", &needError{n}
	}
	if err := f.fetch([]need{n}); err != nil {
		return "", err
	}
	return f.target(link, false)
}

// fetch reads every need in one debugfs run. A directory that does not
// list, or a link whose target cannot be read, is remembered as bad so
// that lookups fail instead of asking again.
func (f *FS) fetch(needs []need) error {
	var cmds []string
	for _, n := range needs {
		switch {
		case !n.link:
			cmds = append(cmds, fmt.Sprintf("ls -p <%d>", n.ino))
		case n.size <= fastLinkMax:
			cmds = append(cmds, fmt.Sprintf("stat <%d>", n.ino))
		default:
			// A long target is in a data block, unless the filesystem
			// has inline data; ask both ways, "stat" wins if it has it.
			cmds = append(cmds, fmt.Sprintf("stat <%d>", n.ino),
				fmt.Sprintf("dump <%d> %s", n.ino, quote(f.linkDump(n.ino))))
		}
	}
	if len(cmds) == 0 {
		return nil
	}
	out, err := f.run(cmds)
	if err != nil {
		return err
	}
	i := 0
	for _, n := range needs {
		switch {
		case !n.link:
			_, ents, err := parseListing(out[i])
			if err != nil {
				f.bad[n.ino] = fmt.Errorf("inode %d: %w", n.ino, err)
			} else {
				f.dirs[n.ino] = ents
			}
			i++
		default:
			t, ok := parseFastLink(out[i], n.size)
			i++
			if n.size > fastLinkMax {
				if !ok {
					t, ok = f.readLinkDump(n)
				}
				os.Remove(f.linkDump(n.ino))
				i++
			}
			if ok {
				f.links[n.ino] = t
			} else {
				f.bad[n.ino] = fmt.Errorf("inode %d: debugfs could not read the symlink's target", n.ino)
			}
		}
	}
	return nil
}

func (f *FS) linkDump(ino uint64) string { return f.tmpPath(fmt.Sprintf("link-%d", ino)) }

func (f *FS) readLinkDump(n need) (string, bool) {
	b, err := os.ReadFile(f.linkDump(n.ino))
	if err != nil || int64(len(b)) < n.size {
		return "", false
	}
	return string(b[:n.size]), true
}

// isNeed reports whether err is a lookup waiting for data, and for what.
func isNeed(err error) (need, bool) {
	var ne *needError
	if errors.As(err, &ne) {
		return ne.need, true
	}
	return need{}, false
}
