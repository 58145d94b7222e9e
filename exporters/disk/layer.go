package disk

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/strata-dev/strata/exporters/atomicfile"
	"github.com/strata-dev/strata/exporters/disk/nosync"
	"github.com/strata-dev/strata/exporters/formats/rawdisk"
)

// LayerOptions configure AddLayer.
type LayerOptions struct {
	// Epoch is the time written into the filesystem, as for Assemble:
	// the added inodes get it, and every inode's access, change and
	// creation time is set to it again, so the result does not depend on
	// when the base was built.
	Epoch time.Time
}

// LayerResult describes a disk AddLayer wrote.
type LayerResult struct {
	// Root is the partition whose filesystem received the tree.
	Root PartitionReport
	// Entries is how many files, directories and links the tree held.
	Entries int
	// Changed is how many bytes of the disk differ from the base.
	Changed int64
}

// bootPaths hold what Assemble copies to the ESP or the kernel loads from
// the root. A layer changing them would leave the ESP describing another
// system than the root, so AddLayer refuses them.
var bootPaths = []string{"boot", "efi", "lib/modules", "usr/lib/modules", "usr/lib/systemd/boot"}

// AddLayer writes to output a copy of base, a disk Assemble built, whose
// root filesystem also holds the files of tree, as a layer merged on top of
// the rootfs base was assembled from would: a file of tree replaces the
// file at its path, a directory of tree takes the place of the directory's
// metadata and keeps its other entries. The result equals assembling the
// merged tree except for where blocks lie: the base's blocks stay where
// they are, which is what lets a conversion reuse the base's compressed
// clusters, and what makes adding a Kubernetes layer to a cached OS disk
// cheaper than building the whole root filesystem again.
//
// debugfs writes the files: it works on an image file, unprivileged, like
// mke2fs -d. The tree must not touch boot files (see bootPaths).
func AddLayer(ctx context.Context, base, tree, output string, o LayerOptions) (_ *LayerResult, err error) {
	defer explainHostFull(&err)
	img, err := newPendingImage(output)
	if err != nil {
		return nil, err
	}
	defer img.discardOnError(&err)
	work, err := workDir(output)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	root, err := os.Create(filepath.Join(work, "root.img"))
	if err != nil {
		return nil, err
	}
	defer root.Close()
	// The base is copied while the layer is written into the root
	// filesystem beside it: neither needs the other.
	copied := make(chan error, 1)
	go func() { copied <- copyDisk(img.file(), base) }()
	edit, err := editRoot(ctx, base, tree, root, o)
	if cerr := <-copied; err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	if err := edit.apply(img.file(), root); err != nil {
		return nil, fmt.Errorf("writing the changed blocks: %w", err)
	}
	if err := img.commit(); err != nil {
		return nil, err
	}
	return edit.result(), nil
}

// AddLayerDelta is AddLayer without the copy of base: it writes to dir
// only what the layer changes (see Delta), which OpenDelta reads back as
// the whole disk together with base. A delta already in dir stays whole
// until this one is: the image and its manifest are both written under
// temporary names first. The old manifest goes just before the image is
// renamed, so a run killed between the two renames leaves a directory
// OpenDelta refuses, never an image described by another's manifest.
func AddLayerDelta(ctx context.Context, base, tree, dir string, o LayerOptions) (_ *LayerResult, err error) {
	defer explainHostFull(&err)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	img, err := newPendingImage(filepath.Join(dir, deltaImage))
	if err != nil {
		return nil, err
	}
	defer img.discardOnError(&err)
	edit, err := editRoot(ctx, base, tree, img.file(), o)
	if err != nil {
		return nil, err
	}
	raw, err := deltaManifestFor(base, edit)
	if err != nil {
		return nil, err
	}
	manifest, err := atomicfile.Create(filepath.Join(dir, deltaManifest), 0o644)
	if err != nil {
		return nil, err
	}
	defer manifest.AbortOnError(&err)
	if _, err := manifest.Write(raw); err != nil {
		return nil, fmt.Errorf("writing %s: %w", manifest.Final(), err)
	}
	if err := os.Remove(manifest.Final()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err := img.commit(); err != nil {
		return nil, err
	}
	if err := manifest.Commit(); err != nil {
		return nil, err
	}
	return edit.result(), nil
}

// rootEdit is the root filesystem of a disk with a layer added, and how it
// differs from the base disk's.
type rootEdit struct {
	root      PartitionReport
	blockSize int64
	// changes are the filesystem's blocks that differ from the base's, in
	// order; the edited image holds their new contents at the same offsets.
	changes []blockRange
	entries int
}

// editRoot writes into img (empty) the base's root filesystem with tree
// added, leaving out what debugfs never reads and the layer cannot change
// without rewriting: the contents of the base's files. Only the
// filesystem's metadata is copied, a few MiB where a disk holds hundreds;
// the result then stands for the whole filesystem in the blocks that
// changed, which it lists.
func editRoot(ctx context.Context, base, tree string, img *os.File, o LayerOptions) (*rootEdit, error) {
	if o.Epoch.IsZero() {
		o.Epoch = time.Now()
	}
	o.Epoch = o.Epoch.Truncate(time.Second).UTC()
	report, root, err := inspectRoot(base)
	if err != nil {
		return nil, err
	}
	entries, err := layerEntries(tree)
	if err != nil {
		return nil, err
	}
	if err := checkUsrShadow(report, tree, entries); err != nil {
		return nil, err
	}
	src, err := os.Open(base)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	files, sb, err := fileDataBlocks(src, root.Start)
	if err != nil {
		return nil, fmt.Errorf("%s: reading the root filesystem: %w", base, err)
	}
	// The base's directories are listed while its metadata is copied.
	listed := make(chan error, 1)
	var existing map[string]fsEntry
	go func() {
		var err error
		existing, err = listDirs(ctx, deviceAt(base, root), entries)
		listed <- err
	}()
	copied, copyErr := copyMetadata(img, src, root.Start, sb, files)
	if err := <-listed; err != nil {
		return nil, err
	}
	if copyErr != nil {
		return nil, fmt.Errorf("copying the root filesystem's metadata: %w", copyErr)
	}
	work, err := os.MkdirTemp(filepath.Dir(img.Name()), atomicfile.Pattern("xattrs"))
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	script, err := layerScript(entries, existing, work)
	if err != nil {
		return nil, err
	}
	if err := runDebugfs(ctx, img.Name(), script, o.Epoch); err != nil {
		return nil, fmt.Errorf("adding %s to the root filesystem: %w", tree, err)
	}
	if err := normalizeExt4(img, 0, o.Epoch, entries[0].Info.Mode()); err != nil {
		return nil, fmt.Errorf("normalising root filesystem: %w", err)
	}
	changes, err := changedBlocks(img, src, root.Start, sb, files, copied)
	if err != nil {
		return nil, fmt.Errorf("comparing with the base: %w", err)
	}
	return &rootEdit{root: root, blockSize: sb.BlockSize, changes: changes, entries: len(entries)}, nil
}

func (e *rootEdit) result() *LayerResult {
	var n uint64
	for _, c := range e.changes {
		n += c.Count
	}
	return &LayerResult{Root: e.root, Entries: e.entries, Changed: int64(n) * e.blockSize}
}

// apply writes the changed blocks from the edited root filesystem into
// disk, a copy of the base. Every byte is written: a block that became all
// zeros must overwrite the base's, so no hole-keeping copy will do.
func (e *rootEdit) apply(disk, root *os.File) error {
	for _, c := range e.changes {
		off, n := int64(c.Start)*e.blockSize, int64(c.Count)*e.blockSize
		if _, err := io.Copy(io.NewOffsetWriter(disk, e.root.Start+off), io.NewSectionReader(root, off, n)); err != nil {
			return err
		}
	}
	return nil
}

// deviceAt names the filesystem in partition p of disk for e2fsprogs.
func deviceAt(disk string, p PartitionReport) string {
	return disk + "?offset=" + strconv.FormatInt(p.Start, 10)
}

// copyMetadata copies the ext4 at offset in src into img, which it sizes to
// the filesystem, except the blocks of files (see fileDataBlocks) and the
// base's holes. It returns the blocks it copied.
func copyMetadata(img, src *os.File, offset int64, sb *ext4Superblock, files []blockRange) ([]blockRange, error) {
	size := int64(sb.BlocksCount) * sb.BlockSize
	if err := img.Truncate(size); err != nil {
		return nil, err
	}
	data, err := rawdisk.DataExtents(src, offset+size)
	if err != nil {
		return nil, err
	}
	copied := subtractRanges(blocksOf(data, offset, sb.BlockSize, sb.BlocksCount), files)
	for _, c := range copied {
		off, n := int64(c.Start)*sb.BlockSize, int64(c.Count)*sb.BlockSize
		if err := copyRange(img, off, src, offset+off, n); err != nil {
			return nil, err
		}
	}
	return copied, nil
}

// copyDisk copies the disk at path into the empty file img, holes kept.
func copyDisk(img *os.File, path string) error {
	src, err := os.Open(path)
	if err != nil {
		return err
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return err
	}
	if err := img.Truncate(st.Size()); err != nil {
		return fmt.Errorf("sizing output: %w", err)
	}
	if err := copySparse(img, 0, src, 0, st.Size()); err != nil {
		return fmt.Errorf("copying %s: %w", path, err)
	}
	return nil
}

// layerEntry is one file of the tree, by its path in the filesystem.
type layerEntry struct {
	Path string // absolute, e.g. /usr/bin/kubelet
	Host string // where it is on the host
	Info fs.FileInfo
	Stat *syscall.Stat_t
}

// layerEntries lists tree in lexical order, parents before children, the
// tree's root ("/") first, refusing boot files and names debugfs cannot be
// told.
func layerEntries(tree string) ([]layerEntry, error) {
	var entries []layerEntry
	err := filepath.WalkDir(tree, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(tree, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		for _, b := range bootPaths {
			if rel == b || strings.HasPrefix(rel, b+"/") {
				return fmt.Errorf("%s: the layer changes /%s, which the disk's boot partition was made from; build the disk from the whole tree instead", tree, rel)
			}
		}
		if strings.ContainsAny(rel, "\"\n\\") {
			return fmt.Errorf("%s: cannot add /%s: its name holds a quote, backslash or newline", tree, rel)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("%s: no ownership information", p)
		}
		entries = append(entries, layerEntry{Path: path.Join("/", rel), Host: p, Info: info, Stat: st})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading layer: %w", err)
	}
	return entries, nil
}

// fsEntry is what the filesystem already holds at a path.
type fsEntry struct {
	Dir bool
}

// listDirs reads, in one debugfs run, every directory of the filesystem
// that the layer's directories name, so the script knows what it replaces.
// A directory the filesystem lacks simply lists nothing.
func listDirs(ctx context.Context, device string, entries []layerEntry) (map[string]fsEntry, error) {
	var dirs []string
	for _, e := range entries {
		if e.Info.IsDir() {
			dirs = append(dirs, e.Path)
		}
	}
	var script strings.Builder
	for _, d := range dirs {
		fmt.Fprintf(&script, "ls -p %s\n", quote(d))
	}
	// -c (catastrophic mode) skips reading the bitmaps, which listing
	// does not need.
	out, err := debugfsOutput(ctx, device, script.String(), time.Time{}, "-c")
	if err != nil {
		return nil, err
	}
	existing := map[string]fsEntry{"/": {Dir: true}}
	var dir string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if cmd, ok := strings.CutPrefix(line, "debugfs: ls -p "); ok {
			dir = unquote(cmd)
			continue
		}
		// ls -p prints /inode/mode/uid/gid/name/size/ per entry.
		f := strings.Split(line, "/")
		if len(f) < 7 || f[0] != "" || f[5] == "." || f[5] == ".." {
			continue
		}
		mode, err := strconv.ParseUint(f[2], 8, 32)
		if err != nil {
			continue
		}
		existing[path.Join(dir, f[5])] = fsEntry{Dir: mode&syscall.S_IFMT == syscall.S_IFDIR}
	}
	return existing, nil
}

// layerScript returns the debugfs commands that put entries into the
// filesystem. Every inode gets the tree's mode, owner and modification
// time; hard links within the tree stay hard links.
func layerScript(entries []layerEntry, existing map[string]fsEntry, work string) (string, error) {
	var b strings.Builder
	type inode struct{ dev, ino uint64 }
	first := map[inode]string{}
	for _, e := range entries {
		p := quote(e.Path)
		had, exists := existing[e.Path]
		isDir := e.Info.IsDir()
		switch {
		case exists && had.Dir && !isDir:
			return "", fmt.Errorf("%s: the layer puts a file where the filesystem has a directory; replacing a directory is not supported", e.Path)
		case exists && !had.Dir:
			fmt.Fprintf(&b, "rm %s\n", p)
			exists = false
		}
		if !isDir && e.Stat.Nlink > 1 {
			key := inode{uint64(e.Stat.Dev), e.Stat.Ino}
			if target, ok := first[key]; ok {
				fmt.Fprintf(&b, "ln %s %s\nsif %s links_count %d\n", quote(target), p, quote(target), e.Stat.Nlink)
				continue
			}
			first[key] = e.Path
		}
		switch m := e.Info.Mode(); {
		case isDir && exists:
		case isDir:
			fmt.Fprintf(&b, "mkdir %s\n", p)
		case m.IsRegular():
			fmt.Fprintf(&b, "write %s %s\n", quote(e.Host), p)
		case m&fs.ModeSymlink != 0:
			target, err := os.Readlink(e.Host)
			if err != nil {
				return "", err
			}
			if strings.ContainsAny(target, "\"\n\\") {
				return "", fmt.Errorf("%s: cannot add a symlink whose target holds a quote, backslash or newline", e.Path)
			}
			fmt.Fprintf(&b, "symlink %s %s\n", p, quote(target))
		case m&fs.ModeNamedPipe != 0:
			mknod(&b, e.Path, "p")
		case m&fs.ModeDevice != 0:
			kind := "b"
			if m&fs.ModeCharDevice != 0 {
				kind = "c"
			}
			rdev := uint64(e.Stat.Rdev)
			mknod(&b, e.Path, fmt.Sprintf("%s %d %d", kind, unix.Major(rdev), unix.Minor(rdev)))
		default:
			return "", fmt.Errorf("%s: cannot add a %s", e.Path, m.Type())
		}
		if err := writeXattrs(&b, p, e, work); err != nil {
			return "", err
		}
		writeAttributes(&b, p, e)
	}
	return b.String(), nil
}

// mknod creates a special file. Unlike write and symlink, debugfs's mknod
// takes the new name literally, slashes included, in the current directory.
func mknod(b *strings.Builder, p, args string) {
	fmt.Fprintf(b, "cd %s\nmknod %s %s\ncd /\n", quote(path.Dir(p)), quote(path.Base(p)), args)
}

// writeXattrs copies e's extended attributes, as mke2fs -d does. debugfs
// takes a value from a file, which work holds.
func writeXattrs(b *strings.Builder, p string, e layerEntry, work string) error {
	names, err := xattrNames(e.Host)
	if err != nil {
		return err
	}
	for i, name := range names {
		value, err := xattrValue(e.Host, name)
		if err != nil {
			return err
		}
		f := filepath.Join(work, fmt.Sprintf("xattr-%d-%d", e.Stat.Ino, i))
		if err := os.WriteFile(f, value, 0o600); err != nil {
			return err
		}
		fmt.Fprintf(b, "ea_set -f %s %s %s\n", quote(f), p, quote(name))
	}
	return nil
}

func xattrNames(p string) ([]string, error) {
	list, err := readGrowing(func(buf []byte) (int, error) { return unix.Llistxattr(p, buf) })
	if errors.Is(err, unix.ENOTSUP) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing extended attributes of %s: %w", p, err)
	}
	var names []string
	for _, name := range strings.Split(string(list), "\x00") {
		if name != "" {
			names = append(names, name)
		}
	}
	return names, nil
}

func xattrValue(p, name string) ([]byte, error) {
	v, err := readGrowing(func(buf []byte) (int, error) { return unix.Lgetxattr(p, name, buf) })
	if err != nil {
		return nil, fmt.Errorf("reading extended attribute %s of %s: %w", name, p, err)
	}
	return v, nil
}

// readGrowing calls read with a buffer it doubles for as long as the
// kernel says ERANGE (too small), as the xattr calls do.
func readGrowing(read func(buf []byte) (int, error)) ([]byte, error) {
	buf := make([]byte, 4096)
	for {
		n, err := read(buf)
		if errors.Is(err, unix.ERANGE) {
			buf = make([]byte, 2*len(buf))
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}

// writeAttributes sets what mke2fs -d would copy from the tree: the full
// mode, owner and modification time (nanoseconds included).
func writeAttributes(b *strings.Builder, p string, e layerEntry) {
	st := e.Stat
	fmt.Fprintf(b, "sif %s mode 0%o\n", p, st.Mode)
	fmt.Fprintf(b, "sif %s uid %d\nsif %s gid %d\n", p, st.Uid, p, st.Gid)
	sec := st.Mtim.Sec
	fmt.Fprintf(b, "sif %s mtime @%d\n", p, sec)
	// The extra field holds the nanoseconds above two bits that extend
	// the seconds past 2038.
	fmt.Fprintf(b, "sif %s mtime_extra %d\n", p, uint32(st.Mtim.Nsec)<<2|uint32((sec-int64(int32(uint32(sec))))>>32)&3)
}

func quote(s string) string { return `"` + s + `"` }

func unquote(s string) string { return strings.TrimSuffix(strings.TrimPrefix(s, `"`), `"`) }

// debugfsQuiet matches what debugfs prints when a command succeeded.
var debugfsQuiet = regexp.MustCompile(`^(debugfs: .*|debugfs [0-9.]+ \(.*\)|Allocated inode: \d+|)$`)

// runDebugfs runs a script that must succeed in every command: debugfs
// reports a failed command only in its output, and exits 0.
func runDebugfs(ctx context.Context, device, script string, epoch time.Time) error {
	out, err := debugfsOutput(ctx, device, script, epoch, "-w")
	if err != nil {
		return err
	}
	var failed []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if !debugfsQuiet.MatchString(sc.Text()) {
			failed = append(failed, sc.Text())
		}
	}
	if len(failed) == 0 {
		return nil
	}
	msg := strings.Join(failed[:min(len(failed), 5)], "; ")
	switch {
	case hostOutOfSpace(msg):
		return hostFullError{fmt.Errorf("debugfs: %s", msg)}
	case outOfSpace(msg):
		return fmt.Errorf("the layer does not fit in the root partition: raise disk.size (debugfs: %s)", msg)
	}
	return fmt.Errorf("debugfs: %s", msg)
}

// debugfsOutput runs debugfs in mode (-w, -c) on device with the script on
// stdin and returns what it printed.
func debugfsOutput(ctx context.Context, device, script string, epoch time.Time, mode string) ([]byte, error) {
	cmd := nosync.Command(ctx, "debugfs", mode, "-f", "-", device)
	cmd.Stdin = strings.NewReader(script)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if !epoch.IsZero() {
		// New inodes and the superblock's write time get the epoch
		// instead of the clock.
		cmd.Env = append(cmd.Env, "E2FSPROGS_FAKE_TIME="+strconv.FormatInt(epoch.Unix(), 10))
	}
	// One buffer for both streams keeps each error next to its command.
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("debugfs: %w: %s", err, strings.TrimSpace(out.String()))
	}
	return out.Bytes(), nil
}
