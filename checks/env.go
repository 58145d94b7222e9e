package checks

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"syscall"
)

// env is one Run's view of the image: the file system with path helpers
// that take the absolute paths checks speak in, and the databases several
// checks share (users, groups, packages, units, sysctls, modules), each
// read once, when first needed.
type env struct {
	ctx context.Context
	img Image

	users, groups *lazy[idDB]
	dpkg          *lazy[dpkgDB]
	sysctl        *lazy[sysctlTable]
	modules       *lazy[moduleList]
	units         *unitResolver
}

// lazy is a value computed on first use, error included.
type lazy[T any] struct {
	load func() (T, error)
	done bool
	v    T
	err  error
}

func (l *lazy[T]) get() (T, error) {
	if !l.done {
		l.v, l.err = l.load()
		l.done = true
	}
	return l.v, l.err
}

func newEnv(ctx context.Context, img Image) *env {
	e := &env{ctx: ctx, img: img}
	e.users = &lazy[idDB]{load: func() (idDB, error) { return loadIDs(e, "/etc/passwd") }}
	e.groups = &lazy[idDB]{load: func() (idDB, error) { return loadIDs(e, "/etc/group") }}
	e.dpkg = &lazy[dpkgDB]{load: func() (dpkgDB, error) { return loadDpkg(e) }}
	e.sysctl = &lazy[sysctlTable]{load: func() (sysctlTable, error) { return loadSysctl(e) }}
	e.modules = &lazy[moduleList]{load: func() (moduleList, error) { return loadModules(e) }}
	e.units = newUnitResolver(e)
	return e
}

// rel turns an absolute image path into an io/fs name.
func rel(p string) string {
	p = strings.Trim(path.Clean("/"+p), "/")
	if p == "" {
		return "."
	}
	return p
}

// abs turns an io/fs name back into an absolute image path.
func abs(name string) string {
	if name == "." {
		return "/"
	}
	return "/" + name
}

func (e *env) prefetch(paths ...string) {
	p, ok := e.img.Root.(Prefetcher)
	if !ok || len(paths) == 0 {
		return
	}
	names := make([]string, len(paths))
	for i, q := range paths {
		names[i] = rel(q)
	}
	// A failed prefetch is no verdict: the reads that follow fail the
	// same way, in the checks that need them, and say so there.
	_ = p.Prefetch(names)
}

func (e *env) prefetchTree(p string) {
	if pf, ok := e.img.Root.(Prefetcher); ok {
		_ = pf.PrefetchTree(rel(p))
	}
}

// The file helpers take absolute image paths and follow symlinks
// themselves, one component at a time, with absolute targets taken from
// the image's root and ".." stopping there: the io/fs implementation only
// ever sees paths without symlinks. So they behave the same on any
// fs.ReadLinkFS, and an os.DirFS of a tree never follows a link to the
// host's own /etc.

// maxLinks bounds the symlinks one lookup follows, as Linux's ELOOP does.
const maxLinks = 40

// resolve returns p with every symlink followed: the canonical path of
// what p names.
func (e *env) resolve(p string) (string, error) {
	done := "/"
	todo := strings.Split(p, "/")
	followed := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			done = path.Dir(done)
			continue
		}
		next := path.Join(done, c)
		info, err := fs.Lstat(e.img.Root, rel(next))
		if err != nil {
			return "", err
		}
		if info.Mode()&fs.ModeSymlink != 0 {
			if followed++; followed > maxLinks {
				return "", &fs.PathError{Op: "resolve", Path: p, Err: syscall.ELOOP}
			}
			target, err := fs.ReadLink(e.img.Root, rel(next))
			if err != nil {
				return "", err
			}
			if strings.HasPrefix(target, "/") {
				done = "/"
			}
			todo = append(strings.Split(target, "/"), todo...)
			continue
		}
		if len(todo) > 0 && !info.IsDir() && !onlyDots(todo) {
			return "", &fs.PathError{Op: "resolve", Path: p, Err: syscall.ENOTDIR}
		}
		done = next
	}
	return done, nil
}

func onlyDots(cs []string) bool {
	for _, c := range cs {
		if c != "" && c != "." {
			return false
		}
	}
	return true
}

// inParent resolves the directory p is in and keeps p's last component.
func (e *env) inParent(p string) (string, error) {
	p = path.Clean("/" + p)
	if p == "/" {
		return p, nil
	}
	dir, err := e.resolve(path.Dir(p))
	if err != nil {
		return "", err
	}
	return path.Join(dir, path.Base(p)), nil
}

// lstat describes what p names without following a final symlink.
func (e *env) lstat(p string) (fs.FileInfo, error) {
	q, err := e.inParent(p)
	if err != nil {
		return nil, err
	}
	return fs.Lstat(e.img.Root, rel(q))
}

// stat describes what p names, symlinks followed.
func (e *env) stat(p string) (fs.FileInfo, error) {
	q, err := e.resolve(p)
	if err != nil {
		return nil, err
	}
	return fs.Lstat(e.img.Root, rel(q))
}

func (e *env) readFile(p string) ([]byte, error) {
	q, err := e.resolve(p)
	if err != nil {
		return nil, err
	}
	return fs.ReadFile(e.img.Root, rel(q))
}

func (e *env) open(p string) (fs.File, error) {
	q, err := e.resolve(p)
	if err != nil {
		return nil, err
	}
	return e.img.Root.Open(rel(q))
}

func (e *env) readLink(p string) (string, error) {
	q, err := e.inParent(p)
	if err != nil {
		return "", err
	}
	return fs.ReadLink(e.img.Root, rel(q))
}

func (e *env) readDir(p string) ([]fs.DirEntry, error) {
	q, err := e.resolve(p)
	if err != nil {
		return nil, err
	}
	return fs.ReadDir(e.img.Root, rel(q))
}

// exists reports whether anything, a dangling symlink included, is at p.
// Errors other than "not there" are returned.
func (e *env) exists(p string) (bool, error) {
	_, err := e.lstat(p)
	if err == nil {
		return true, nil
	}
	if isNotExist(err) {
		return false, nil
	}
	return false, err
}

func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// match expands a pattern (path.Match syntax in any component) to the
// paths of the entries it names, dangling symlinks included, in lexical
// order. A pattern without wildcards matches itself if something is there.
func (e *env) match(pattern string) ([]string, error) {
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, fmt.Errorf("pattern %s: %w", pattern, err)
	}
	matches := []string{"/"}
	parts := strings.Split(strings.Trim(path.Clean("/"+pattern), "/"), "/")
	for i, c := range parts {
		last := i == len(parts)-1
		var next []string
		for _, dir := range matches {
			if !hasMeta(c) {
				p := path.Join(dir, c)
				if ok, err := e.exists(p); err != nil {
					return nil, err
				} else if ok && (last || e.isDir(p)) {
					next = append(next, p)
				}
				continue
			}
			ents, err := e.readDir(dir)
			if err != nil {
				continue // not a directory, or unreadable: nothing matches below
			}
			for _, d := range ents {
				if ok, _ := path.Match(c, d.Name()); ok && (last || e.isDir(path.Join(dir, d.Name()))) {
					next = append(next, path.Join(dir, d.Name()))
				}
			}
		}
		matches = next
	}
	return matches, nil
}

func (e *env) isDir(p string) bool {
	info, err := e.stat(p)
	return err == nil && info.IsDir()
}

func hasMeta(p string) bool { return strings.ContainsAny(p, `*?[\`) }

// owner returns an entry's numeric owner and group.
func owner(info fs.FileInfo) (uid, gid uint32, ok bool) {
	if st, isStat := info.Sys().(*syscall.Stat_t); isStat {
		return st.Uid, st.Gid, true
	}
	return 0, 0, false
}

// listing is a short list of paths for a detail line.
func listing(paths []string, max int) string {
	if len(paths) <= max {
		return strings.Join(paths, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(paths[:max], ", "), len(paths)-max)
}
