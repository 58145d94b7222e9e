package disk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/strata-dev/strata/exporters/disk/nosync"
)

// mke2fsConf pins the ext4 feature set instead of inheriting the host's
// /etc/mke2fs.conf, so the tools image cannot change what we produce. The
// list is Debian 12's ext4 default; it deliberately leaves out orphan_file
// and metadata_csum_seed, which e2fsprogs >= 1.47 may enable upstream and
// which GRUB 2.06 (Debian 12, our future "bootloader: grub") cannot read.
// Kernels >= 4.x read everything listed. The usage types mke2fs picks by
// size ("small" under 512 MiB, "big"/"huge" past 4/16 TiB) keep e2fsprogs'
// inode ratios; their 1 KiB block size is overridden by -b 4096.
const mke2fsConf = `[defaults]
	base_features = sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr
	default_mntopts = acl,user_xattr
	enable_periodic_fsck = 0
	blocksize = 4096
	inode_size = 256
	inode_ratio = 16384

[fs_types]
	ext4 = {
		features = has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize
	}
	small = {
		inode_ratio = 4096
	}
	floppy = {
		inode_ratio = 8192
	}
	big = {
		inode_ratio = 32768
	}
	huge = {
		inode_ratio = 65536
	}
`

// ext4Params describe one mke2fs run.
type ext4Params struct {
	Image    string // disk image to write into
	Offset   int64  // partition start, bytes
	Size     int64  // partition size, bytes
	Label    string
	UUID     string
	HashSeed string
	Epoch    time.Time
	WorkDir  string // where the pinned mke2fs.conf is written
}

// makeExt4 runs `mke2fs -d` to build an ext4 from tree directly at
// p.Offset inside p.Image. mke2fs copies owners, modes, hard links, device
// nodes, FIFOs, xattrs and holes itself, which is why the root filesystem
// is not written with go-diskfs (its ext4 writer has none of those).
func makeExt4(ctx context.Context, tree string, p ext4Params) error {
	conf := filepath.Join(p.WorkDir, "mke2fs.conf")
	if err := os.WriteFile(conf, []byte(mke2fsConf), 0o644); err != nil {
		return fmt.Errorf("writing mke2fs.conf: %w", err)
	}
	st, err := os.Stat(tree)
	if err != nil {
		return err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s: no ownership information", tree)
	}
	ext := []string{
		"offset=" + strconv.FormatInt(p.Offset, 10),
		"hash_seed=" + p.HashSeed,
		// mke2fs -d does not copy the tree root's owner; say it explicitly.
		fmt.Sprintf("root_owner=%d:%d", sys.Uid, sys.Gid),
		// The target range is a fresh hole, so it already reads as zeros.
		// Saying so (e2fsprogs >= 1.47.0) skips writing zeroed inode tables
		// and journal, which would allocate 100+ MiB of real blocks, and
		// marks the tables zeroed so the kernel's lazy init has nothing to
		// do on first boot. Without it mke2fs gets the same effect only if
		// punching a hole at the offset works on the host filesystem.
		"assume_storage_prezeroed=1",
		"nodiscard",
	}
	args := []string{
		"-t", "ext4",
		"-b", "4096",
		"-I", "256",
		"-d", tree,
		"-L", p.Label,
		"-U", p.UUID,
		"-E", strings.Join(ext, ","),
		"-F", "-q",
		p.Image,
		strconv.FormatInt(p.Size/1024, 10) + "k",
	}
	cmd := nosync.Command(ctx, "mke2fs", args...)
	cmd.Env = append(os.Environ(),
		"MKE2FS_CONFIG="+conf,
		// mke2fs stamps the superblock and the inodes it creates itself
		// (root, lost+found, journal) with this instead of the clock.
		"E2FSPROGS_FAKE_TIME="+strconv.FormatInt(p.Epoch.Unix(), 10),
		"LC_ALL=C",
	)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		msg := strings.TrimSpace(out.String())
		switch {
		case hostOutOfSpace(msg):
			return hostFullError{fmt.Errorf("mke2fs: %s", lastLine(msg))}
		case outOfSpace(msg):
			return fmt.Errorf("the root filesystem does not fit in the %d MiB root partition: raise disk.size (mke2fs: %s)", p.Size>>20, lastLine(msg))
		}
		return fmt.Errorf("mke2fs %s: %w: %s", strings.Join(args, " "), err, msg)
	}
	return nil
}

// outOfSpace recognises e2fsprogs' ways of saying the filesystem it
// writes is full: of blocks, of inodes, or of room in a directory.
func outOfSpace(msg string) bool {
	for _, s := range []string{"Could not allocate block", "Could not allocate inode", "No free space in the filesystem"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// hostOutOfSpace recognises ENOSPC, which e2fsprogs prints only when the
// image file it writes cannot grow: the disk of the machine running the
// step is full, not the filesystem inside the image (that is
// "Could not allocate block").
func hostOutOfSpace(msg string) bool {
	return strings.Contains(msg, "No space left on device")
}

// hostFullError says what to free, so nobody raises disk.size for a
// full build machine: the image file lives in buildkitd's state.
type hostFullError struct{ err error }

func (e hostFullError) Error() string {
	return "the build machine's disk is full: free space where buildkitd keeps its state, " +
		"or prune its cache (buildctl prune, docker buildx prune); disk.size is not the cause: " + e.err.Error()
}

func (e hostFullError) Unwrap() error { return e.err }

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// explainHostFull turns a write strata itself made that failed with
// ENOSPC into hostFullError, unless it already is one.
func explainHostFull(err *error) {
	var explained hostFullError
	if *err != nil && errors.Is(*err, syscall.ENOSPC) && !errors.As(*err, &explained) {
		*err = hostFullError{*err}
	}
}
