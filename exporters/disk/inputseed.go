package disk

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// inputSeed derives a seed from everything that reaches the image: the
// tree's names, types, modes, owners, device numbers, link targets, hard
// links, extended attributes and contents, and the options that shape the
// disk. It is what Assemble uses when asked for a reproducible image
// (Options.Epoch set) without a seed: equal inputs then give equal
// identifiers, and different trees different ones, as random seeds would.
// Timestamps are left out, since the epoch replaces them on the disk.
func inputSeed(ctx context.Context, tree string, opts Options) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "strata-assemble-inputs/v1\nsize %d\nesp %d\ncmdline %q\nlabel %q\ntitle %q\nepoch %d\n",
		opts.Size, opts.ESPSize, opts.Cmdline, opts.RootLabel, opts.Title, opts.Epoch.Unix())
	hardLinks := map[[2]uint64]string{}
	err := filepath.WalkDir(tree, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(tree, path)
		if err != nil {
			return err
		}
		info, err := os.Lstat(path)
		if err != nil {
			return err
		}
		return hashEntry(h, path, rel, info, hardLinks)
	})
	if err != nil {
		return "", fmt.Errorf("hashing the root filesystem for a seed: %w", err)
	}
	return "inputs:sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

func hashEntry(h hash.Hash, path, rel string, info fs.FileInfo, hardLinks map[[2]uint64]string) error {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s: no ownership information", path)
	}
	fmt.Fprintf(h, "\x00%q %o %d:%d", rel, uint32(info.Mode()), st.Uid, st.Gid)
	switch {
	case info.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, " -> %q", target)
	case info.Mode()&(fs.ModeDevice|fs.ModeCharDevice) != 0:
		fmt.Fprintf(h, " dev %d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
	case info.Mode().IsRegular():
		id := [2]uint64{st.Dev, st.Ino}
		if first, seen := hardLinks[id]; seen && st.Nlink > 1 {
			fmt.Fprintf(h, " link %q", first)
			return nil
		}
		hardLinks[id] = rel
		if err := hashContent(h, path); err != nil {
			return err
		}
	}
	return hashXattrs(h, path)
}

func hashContent(h hash.Hash, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fmt.Fprint(h, " data ")
	n, err := io.Copy(h, f)
	fmt.Fprint(h, " ", strconv.FormatInt(n, 10))
	return err
}

// hashXattrs adds the extended attributes mke2fs -d copies, by name: the
// order a filesystem lists them in is its own, and the same tree on
// another host must give the same seed.
func hashXattrs(h hash.Hash, path string) error {
	names, err := xattrNames(path)
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		value, err := xattrValue(path, name)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, " xattr %q=%x", name, value)
	}
	return nil
}
