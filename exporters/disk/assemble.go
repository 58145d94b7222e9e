package disk

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Result describes an assembled disk.
type Result struct {
	// Layout is the partition table that was written.
	Layout Layout
	// Seed is the seed identifiers were derived from: Options.Seed, or
	// when that was empty, one derived from the inputs if Options.Epoch
	// was set and a random one if not.
	Seed string
	// Epoch is the time written into the filesystems.
	Epoch time.Time
	// KernelVersion is the version of the kernel placed on the ESP.
	KernelVersion string
	// Kernel, Initrd and Loader are the files used, as absolute paths
	// inside the tree (after resolving symlinks within it).
	Kernel, Initrd, Loader string
	// Entry is the loader entry written to the ESP.
	Entry LoaderEntry
}

// Assemble builds a GPT disk image at output from rootfs, a directory or a
// tar file (optionally gzip-compressed). The image is written to a
// temporary file next to output and renamed into place only when complete,
// so a failed or killed run never leaves a partial output behind.
func Assemble(ctx context.Context, rootfs, output string, opts Options) (_ *Result, err error) {
	defer explainHostFull(&err)
	opts = opts.withDefaults()
	// A caller that fixes the epoch wants a reproducible image; without a
	// seed of its own, the identifiers then come from the inputs.
	seedFromInputs := opts.Seed == "" && !opts.Epoch.IsZero()
	if opts.Seed == "" && !seedFromInputs {
		opts.Seed = randomSeed()
	}
	if opts.Epoch.IsZero() {
		opts.Epoch = time.Now()
	}
	opts.Epoch = opts.Epoch.Truncate(time.Second).UTC() // no filesystem here keeps less
	layout, err := PlanLayout(opts)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	work, err := workDir(output)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)

	tree, err := prepareTree(ctx, rootfs, work)
	if err != nil {
		return nil, err
	}
	if seedFromInputs {
		if opts.Seed, err = inputSeed(ctx, tree, opts); err != nil {
			return nil, err
		}
		if layout, err = PlanLayout(opts); err != nil {
			return nil, err
		}
	}
	treeInfo, err := os.Stat(tree)
	if err != nil {
		return nil, err
	}
	boot, err := findBootFiles(tree)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rootfs, err)
	}
	entry := newLoaderEntry(opts.Title, boot.KernelVersion, layout.Root.GUID, opts.Cmdline)

	img, err := newPendingImage(output)
	if err != nil {
		return nil, err
	}
	defer img.discardOnError(&err)
	// Truncate, never write zeros: everything not written stays a hole.
	if err := img.Truncate(layout.DiskSize); err != nil {
		return nil, fmt.Errorf("sizing output: %w", err)
	}
	if err := writeGPT(img.file(), layout); err != nil {
		return nil, err
	}

	espPath := filepath.Join(work, "esp.img")
	files := []espFile{
		// The removable-media path is what firmware boots with no NVRAM
		// entry (a fresh VM); the systemd path is where bootctl looks.
		{Path: espFallbackEFI, Source: boot.host(boot.Loader)},
		{Path: espSystemdEFI, Source: boot.host(boot.Loader)},
		{Path: entry.Linux, Source: boot.host(boot.Kernel)},
		{Path: entry.Initrd, Source: boot.host(boot.Initrd)},
		{Path: espLoaderConf, Data: []byte(loaderConf(entry))},
		{Path: entry.Path(), Data: []byte(entry.Conf())},
	}
	if err := buildESP(espPath, layout.ESP.Size(), layout.ESPVolumeID, opts.Epoch, files); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := placeFile(img.file(), layout.ESP.Start, espPath); err != nil {
		return nil, fmt.Errorf("placing ESP: %w", err)
	}
	if err := os.Remove(espPath); err != nil { // free the space before mke2fs needs it
		return nil, err
	}

	err = makeExt4(ctx, tree, ext4Params{
		Image:    img.Name(),
		Offset:   layout.Root.Start,
		Size:     layout.Root.Size(),
		Label:    opts.RootLabel,
		UUID:     layout.RootFSUUID,
		HashSeed: layout.RootHashSeed,
		Epoch:    opts.Epoch,
		WorkDir:  work,
	})
	if err != nil {
		return nil, fmt.Errorf("building root filesystem: %w", err)
	}
	if err := normalizeExt4(img.file(), layout.Root.Start, opts.Epoch, treeInfo.Mode()); err != nil {
		return nil, fmt.Errorf("normalising root filesystem: %w", err)
	}

	if err := img.Sync(); err != nil {
		return nil, fmt.Errorf("syncing output: %w", err)
	}
	if err := img.commit(); err != nil {
		return nil, err
	}
	return &Result{
		Layout:        layout,
		Seed:          opts.Seed,
		Epoch:         opts.Epoch,
		KernelVersion: boot.KernelVersion,
		Kernel:        boot.Kernel,
		Initrd:        boot.Initrd,
		Loader:        boot.Loader,
		Entry: LoaderEntry{
			File: entry.Path(), Title: entry.Title, Version: entry.Version,
			Kernel: entry.Linux, Initrd: entry.Initrd, Cmdline: entry.Options,
		},
	}, nil
}

// prepareTree returns the directory to build the root from: rootfs itself,
// or a tar extracted under work.
func prepareTree(ctx context.Context, rootfs, work string) (string, error) {
	st, err := os.Stat(rootfs)
	if err != nil {
		return "", fmt.Errorf("rootfs: %w", err)
	}
	if st.IsDir() {
		return rootfs, nil
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("rootfs %s is neither a directory nor a tar file", rootfs)
	}
	tree := filepath.Join(work, "rootfs")
	if err := os.Mkdir(tree, 0o755); err != nil {
		return "", err
	}
	// Mkdir's mode is filtered by the umask; a tar without a "./" entry
	// must still give a 0755 root.
	if err := os.Chmod(tree, 0o755); err != nil {
		return "", err
	}
	if err := extractTar(ctx, rootfs, tree); err != nil {
		return "", fmt.Errorf("extracting %s: %w", rootfs, err)
	}
	return tree, nil
}

// placeFile copies the file at src into img at offset, sparse-aware.
func placeFile(img *os.File, offset int64, src string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	return copySparse(img, offset, f, 0, st.Size())
}
