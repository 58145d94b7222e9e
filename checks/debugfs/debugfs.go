// Package debugfs reads an ext4 filesystem inside an image file offline,
// with e2fsprogs' debugfs in batch mode: no mount, no loop device, no root.
//
// FS is an io/fs file system (fs.ReadDirFS, fs.ReadFileFS, fs.StatFS and
// fs.ReadLinkFS) over that filesystem. Every debugfs process costs a few
// milliseconds, so FS keeps what it has read, names inodes rather than paths
// in its requests (no quoting, and symlinks are followed by one resolver,
// inside the image's root), and batches: Prefetch and PrefetchTree read many
// directories, links and files per run, and ReadFiles streams the contents
// of many files through a few runs.
package debugfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// rootInode is the ext4 root directory's inode number.
const rootInode = 2

// FS is an ext4 filesystem read through debugfs. It is not safe for
// concurrent use.
type FS struct {
	ctx    context.Context
	device string // what debugfs opens: a file, or "file?offset=N"
	tmp    string // scratch directory for dumped files

	root  inode
	dirs  map[uint64][]dirent // listed directories, entries sorted by name
	links map[uint64]string   // symlink targets
	data  map[uint64][]byte   // contents of small regular files
	bad   map[uint64]error    // inodes debugfs could not list or read
	runs  int
}

// Open opens the ext4 filesystem that starts offset bytes into the file
// image (0 for a filesystem image of its own). ctx bounds every debugfs run
// the FS makes until Close.
func Open(ctx context.Context, image string, offset int64) (*FS, error) {
	if _, err := exec.LookPath("debugfs"); err != nil {
		return nil, fmt.Errorf("reading the root filesystem needs debugfs (e2fsprogs): %w", err)
	}
	tmp, err := os.MkdirTemp("", "strata-debugfs-")
	if err != nil {
		return nil, err
	}
	f := &FS{
		ctx: ctx, tmp: tmp, device: image,
		dirs: map[uint64][]dirent{}, links: map[uint64]string{}, data: map[uint64][]byte{}, bad: map[uint64]error{},
	}
	// debugfs takes io options after a "?" in the device name, so a path
	// holding one must be reached through a link that does not.
	if strings.Contains(image, "?") {
		link := f.tmpPath("image")
		if err := os.Symlink(absPath(image), link); err != nil {
			f.Close()
			return nil, err
		}
		f.device = link
	}
	if offset != 0 {
		f.device += "?offset=" + strconv.FormatInt(offset, 10)
	}
	if err := f.openRoot(); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// openRoot lists the root directory, which both proves that debugfs can
// open the filesystem and gives the root's own inode.
func (f *FS) openRoot() error {
	out, stderr, err := f.exec([]string{"ls -p <2>"})
	if err != nil {
		return err
	}
	self, ents, err := parseListing(out[0])
	if err != nil {
		// debugfs reports a filesystem it cannot open on stderr and
		// still exits 0.
		return fmt.Errorf("debugfs cannot read an ext4 filesystem in %s: %s", f.device, firstLines(stderr, 3))
	}
	f.root = self
	f.dirs[rootInode] = ents
	return nil
}

// Close removes the FS's scratch files.
func (f *FS) Close() error { return os.RemoveAll(f.tmp) }

// Runs is how many debugfs processes the FS has started.
func (f *FS) Runs() int { return f.runs }

// Device is what the FS hands debugfs, for messages.
func (f *FS) Device() string { return f.device }

// run executes cmds in one debugfs process and returns each command's
// output.
func (f *FS) run(cmds []string) ([][]byte, error) {
	out, _, err := f.exec(cmds)
	return out, err
}

func (f *FS) exec(cmds []string) (out [][]byte, stderr []byte, err error) {
	var in bytes.Buffer
	for _, c := range cmds {
		in.WriteString(c)
		in.WriteByte('\n')
	}
	cmd := f.command(f.ctx, &in)
	var stdout, errBuf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &errBuf
	f.runs++
	if err := cmd.Run(); err != nil {
		return nil, errBuf.Bytes(), fmt.Errorf("debugfs %s: %w: %s", f.device, err, firstLines(errBuf.Bytes(), 3))
	}
	out, err = splitOutput(stdout.Bytes(), cmds)
	if err != nil {
		return nil, errBuf.Bytes(), fmt.Errorf("debugfs %s: %w", f.device, err)
	}
	return out, errBuf.Bytes(), nil
}

// command is a debugfs batch run reading its commands from stdin. -c
// (catastrophic mode) skips reading the block and inode bitmaps, which
// reading files never needs, and opens the filesystem read-only; no pager
// may stand between debugfs and the pipe.
func (f *FS) command(ctx context.Context, stdin io.Reader) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "debugfs", "-c", "-f", "-", f.device)
	cmd.Stdin = stdin
	cmd.Env = append(os.Environ(), "DEBUGFS_PAGER=__none__", "PAGER=__none__")
	return cmd
}

// splitOutput cuts debugfs's standard output into each command's part. In
// batch mode debugfs echoes every command as "debugfs: CMD" on a line of
// its own before running it, and those echoes are the delimiters. Every
// command FS issues prints text ending in a newline or nothing, so the next
// echo starts the output or follows a newline.
func splitOutput(out []byte, cmds []string) ([][]byte, error) {
	res := make([][]byte, len(cmds))
	echo := func(i int) []byte { return []byte("debugfs: " + cmds[i] + "\n") }
	rest := out
	for i := range cmds {
		e := echo(i)
		if !bytes.HasPrefix(rest, e) {
			return nil, fmt.Errorf("output out of step: no echo of %q", cmds[i])
		}
		rest = rest[len(e):]
		if i+1 == len(cmds) {
			res[i] = rest
			break
		}
		next := echo(i + 1)
		end := 0
		if !bytes.HasPrefix(rest, next) {
			j := bytes.Index(rest, append([]byte("\n"), next...))
			if j < 0 {
				return nil, fmt.Errorf("output out of step after %q", cmds[i])
			}
			end = j + 1
		}
		res[i], rest = rest[:end], rest[end:]
	}
	return res, nil
}

func (f *FS) tmpPath(name string) string { return f.tmp + "/" + name }

// quote writes a path the way debugfs's command parser reads it: in double
// quotes, with a double quote doubled.
func quote(p string) string { return `"` + strings.ReplaceAll(p, `"`, `""`) + `"` }

func firstLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var keep []string
	for _, l := range lines {
		// The version banner says nothing about the failure.
		if strings.HasPrefix(l, "debugfs ") && strings.Contains(l, "(") {
			continue
		}
		keep = append(keep, l)
	}
	if len(keep) > n {
		keep = keep[:n]
	}
	if len(keep) == 0 {
		return "no message"
	}
	return strings.Join(keep, "; ")
}

func absPath(p string) string {
	if strings.HasPrefix(p, "/") {
		return p
	}
	wd, err := os.Getwd()
	if err != nil {
		return p
	}
	return wd + "/" + p
}

// errNotListed is kept for an inode debugfs printed no listing for: not a
// directory after all, or unreadable.
var errNotListed = errors.New("debugfs could not list the directory")
