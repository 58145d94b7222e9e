package disk

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/strata-dev/strata/exporters/atomicfile"
)

// paxXattrPrefix is how GNU tar, bsdtar and BuildKit record xattrs.
const paxXattrPrefix = "SCHILY.xattr."

// extractTar unpacks the tar (optionally gzip-compressed) at tarPath into
// the empty directory dest, keeping what the disk must keep: owners, modes
// including setuid/setgid/sticky, xattrs (security.capability among them),
// device nodes, FIFOs, hard links, symlinks, holes and times. It is the
// outside-BuildKit path (tests, benchmarks, `strata assemble --rootfs
// x.tar`); inside BuildKit the rootfs arrives as a directory. It needs root
// for foreign owners and device nodes, and fails rather than produce a
// disk with the wrong owners.
func extractTar(ctx context.Context, tarPath, dest string) error {
	f, err := os.Open(tarPath)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	var r io.Reader = br
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%s: %w", tarPath, err)
		}
		defer gz.Close()
		r = gz
	}
	if err := ExtractTar(ctx, r, dest, ExtractOptions{KeepOwners: true}); err != nil {
		return fmt.Errorf("%s: %w", tarPath, err)
	}
	return nil
}

// ExtractOptions shape ExtractTar.
type ExtractOptions struct {
	// KeepOwners makes a foreign owner, a device node or an xattr that
	// cannot be set an error, as a disk's root filesystem needs. Without
	// it, files belong to whoever extracts them, as with an unprivileged
	// tar, device nodes are skipped and xattrs are set where allowed.
	KeepOwners bool
	// Skipped, when set, hears of every entry left out or set partly.
	Skipped func(name, why string)
}

// ExtractTar unpacks the uncompressed tar stream r into the directory
// dest, creating it: the same safe extraction as the disk assembler's
// (no entry lands outside dest, holes stay holes), for `strata build -o
// DIR`, which receives its result as a tar.
func ExtractTar(ctx context.Context, r io.Reader, dest string, o ExtractOptions) error {
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return err
	}
	// Directory times are set last: creating entries inside a directory
	// moves its mtime.
	type dirTime struct {
		path, rel string
		mtime     time.Time
	}
	var dirs []dirTime
	buf := make([]byte, 1<<20)
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		rel, err := tarEntryPath(hdr.Name)
		if err != nil {
			return err
		}
		target := filepath.Join(dest, rel)
		if rel != "." {
			if err := checkParents(dest, rel); err != nil {
				return err
			}
		}
		if err := extractEntry(tr, hdr, dest, target, rel, buf, o); err != nil {
			return fmt.Errorf("extracting %s: %w", hdr.Name, err)
		}
		if hdr.Typeflag == tar.TypeDir {
			dirs = append(dirs, dirTime{target, rel, hdr.ModTime})
		}
	}
	timed := map[string]bool{}
	for i := len(dirs) - 1; i >= 0; i-- {
		if timed[dirs[i].rel] || !isDirInside(dest, dirs[i].rel) {
			continue // a later entry's times won, or it was replaced since
		}
		timed[dirs[i].rel] = true
		if err := setTimes(dirs[i].path, dirs[i].mtime); err != nil {
			return err
		}
	}
	return nil
}

// isDirInside reports whether rel is still a directory of dest reached
// through directories only. A later entry may have replaced it, or one of
// its parents with a symlink, which setting its times by path would follow
// out of dest.
func isDirInside(dest, rel string) bool {
	cur := dest
	for _, part := range strings.Split(rel, "/") {
		cur = filepath.Join(cur, part)
		if fi, err := os.Lstat(cur); err != nil || !fi.IsDir() {
			return false
		}
	}
	return true
}

// tarEntryPath cleans an entry name to a path relative to the tree and
// rejects names that would land outside it.
func tarEntryPath(name string) (string, error) {
	clean := path.Clean("/" + name)
	if strings.Contains(name, "\x00") {
		return "", fmt.Errorf("tar entry %q: NUL in name", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", fmt.Errorf("tar entry %q: refusing a name with '..'", name)
		}
	}
	if clean == "/" {
		return ".", nil
	}
	return strings.TrimPrefix(clean, "/"), nil
}

// checkParents makes sure no parent of rel inside dest is a symlink, so a
// crafted tar (link "a" -> "/etc", then "a/passwd") cannot write outside
// dest. Nothing else writes into dest while we extract, so this check
// cannot race.
func checkParents(dest, rel string) error {
	dir := path.Dir(rel)
	if dir == "." {
		return nil
	}
	cur := dest
	for _, part := range strings.Split(dir, "/") {
		cur = filepath.Join(cur, part)
		fi, err := os.Lstat(cur)
		if errors.Is(err, os.ErrNotExist) {
			// Tars may omit parent directories; create them like tar does.
			if err := os.Mkdir(cur, 0o755); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return fmt.Errorf("tar entry %s: parent %s is not a directory", rel, strings.TrimPrefix(cur, dest))
		}
	}
	return nil
}

func extractEntry(tr *tar.Reader, hdr *tar.Header, dest, target, rel string, buf []byte, o ExtractOptions) error {
	if hdr.Typeflag == tar.TypeReg || hdr.Typeflag == tar.TypeGNUSparse {
		return extractFile(tr, hdr, target, buf, o)
	}
	// Replace whatever is there (a later entry wins, as with tar), except
	// an existing directory, which tar also keeps.
	if rel != "." {
		if fi, err := os.Lstat(target); err == nil && !(fi.IsDir() && hdr.Typeflag == tar.TypeDir) {
			if err := os.RemoveAll(target); err != nil {
				return err
			}
		}
	}
	mode := uint32(hdr.Mode & 0o7777)
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := os.Mkdir(target, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	case tar.TypeSymlink:
		if err := os.Symlink(hdr.Linkname, target); err != nil {
			return err
		}
	case tar.TypeLink:
		lrel, err := tarEntryPath(hdr.Linkname)
		if err != nil {
			return err
		}
		if err := checkParents(dest, lrel); err != nil {
			return err
		}
		// A hard link shares the inode, and with it owner, mode, xattrs
		// and times, all set when its first name was extracted.
		return os.Link(filepath.Join(dest, lrel), target)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		kind := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[hdr.Typeflag]
		dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
		if err := unix.Mknod(target, kind|mode, int(dev)); err != nil {
			if !o.KeepOwners && errors.Is(err, unix.EPERM) {
				o.skipped(hdr.Name, "a device node needs root")
				return nil
			}
			return fmt.Errorf("mknod: %w", err)
		}
	case tar.TypeXGlobalHeader:
		return nil
	default:
		return fmt.Errorf("unsupported tar entry type %q", hdr.Typeflag)
	}

	return setMetadata(hdr, target, o)
}

// extractFile writes a regular file under a temporary name beside target,
// with its owner, mode, xattrs and times, and renames it into place: a
// stream cut short (a cancelled build) leaves no partial file under
// target, and whatever was there stays until the file is complete.
func extractFile(r io.Reader, hdr *tar.Header, target string, buf []byte, o ExtractOptions) (err error) {
	f, err := atomicfile.Create(target, 0o600)
	if err != nil {
		return err
	}
	defer f.AbortOnError(&err)
	if err := writeSparse(f.File, r, hdr.Size, buf); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := setMetadata(hdr, f.Name(), o); err != nil {
		return err
	}
	// A file renames over a file or a symlink, not over a directory.
	if fi, err := os.Lstat(target); err == nil && fi.IsDir() {
		if err := os.RemoveAll(target); err != nil {
			return err
		}
	}
	return f.Commit()
}

// setMetadata gives target, extracted from hdr, its owner, mode, xattrs
// and time.
func setMetadata(hdr *tar.Header, target string, o ExtractOptions) error {
	mode := uint32(hdr.Mode & 0o7777)
	isLink := hdr.Typeflag == tar.TypeSymlink
	// Order matters: chown clears setuid/setgid and security.capability, so
	// it goes first, then the mode, then the xattrs.
	if o.KeepOwners {
		if err := os.Lchown(target, hdr.Uid, hdr.Gid); err != nil {
			return fmt.Errorf("chown (root needed for foreign owners): %w", err)
		}
	}
	if !isLink {
		if err := unix.Chmod(target, mode); err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
	}
	for key, value := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(key, paxXattrPrefix)
		if !ok {
			continue
		}
		if err := unix.Lsetxattr(target, name, []byte(value), 0); err != nil {
			if !o.KeepOwners {
				o.skipped(hdr.Name, "xattr "+name+": "+err.Error())
				continue
			}
			return fmt.Errorf("setting xattr %s: %w", name, err)
		}
	}
	if hdr.Typeflag != tar.TypeDir {
		return setTimes(target, hdr.ModTime)
	}
	return nil
}

// writeSparse writes n bytes from r to the empty file f, leaving blocks
// that are all zeros as holes. archive/tar expands the GNU/PAX sparse maps
// into zeros, so this is what keeps a 64 MiB file with 4 KiB of data
// small; a zero block that was data in the source becomes a hole, which
// reads the same.
func writeSparse(f *os.File, r io.Reader, n int64, buf []byte) error {
	var off int64
	for off < n {
		chunk := buf[:min(int64(len(buf)), n-off)]
		if _, err := io.ReadFull(r, chunk); err != nil {
			return err
		}
		if err := WriteAtSkippingZeros(f, chunk, off); err != nil {
			return err
		}
		off += int64(len(chunk))
	}
	return f.Truncate(n)
}

func setTimes(p string, mtime time.Time) error {
	ts := unix.NsecToTimespec(mtime.UnixNano())
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("setting times on %s: %w", p, err)
	}
	return nil
}

func (o ExtractOptions) skipped(name, why string) {
	if o.Skipped != nil {
		o.Skipped(name, why)
	}
}
