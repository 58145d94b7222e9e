package disk

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"path"
	"strings"

	"github.com/diskfs/go-diskfs/backend"
	"github.com/diskfs/go-diskfs/filesystem/fat32"
)

// inspectESP lists the ESP's files and parses systemd-boot's configuration.
func inspectESP(r *Report, b backend.Storage, esp PartitionReport) error {
	if err := checkFATFits(b, esp); err != nil {
		return err
	}
	fs, err := safeFAT(func() (*fat32.FileSystem, error) { return fat32.Read(b, esp.End-esp.Start, esp.Start, SectorSize) })
	if err != nil {
		return err
	}
	if err := listFAT(fs, ".", 0, &r.ESPFiles); err != nil {
		return err
	}
	onESP := map[string]bool{}
	for _, f := range r.ESPFiles {
		onESP[strings.ToLower(f.Path)] = true // FAT is case-insensitive
	}

	conf, err := readFATFile(fs, espLoaderConf)
	if errors.Is(err, errCorruptFAT) {
		return err
	}
	if err != nil {
		// A vendor's disk (Debian's and Ubuntu's cloud images, Flatcar)
		// boots GRUB from the ESP, whose configuration strata does not
		// read: it is reported, and only a disk with neither boot loader
		// is a problem.
		if r.GRUB = grubFiles(r.ESPFiles); len(r.GRUB) == 0 {
			r.Problems = append(r.Problems, "no boot loader on the ESP: neither systemd-boot's "+espLoaderConf+" nor GRUB (grub*.efi, grub.cfg)")
		}
		return nil
	}
	lc := parseLoaderConf(string(conf))
	r.Loader = &LoaderReport{Default: lc["default"], Timeout: lc["timeout"]}
	for _, f := range r.ESPFiles {
		if path.Dir(f.Path) != espEntriesDir || !strings.HasSuffix(strings.ToLower(f.Path), ".conf") {
			continue
		}
		text, err := readFATFile(fs, f.Path)
		if err != nil {
			return fmt.Errorf("reading %s: %w", f.Path, err)
		}
		m := parseLoaderConf(string(text))
		e := LoaderEntry{File: f.Path, Title: m["title"], Version: m["version"], Kernel: m["linux"], Initrd: m["initrd"], Cmdline: m["options"]}
		r.Loader.Entries = append(r.Loader.Entries, e)
		for _, ref := range append([]string{e.Kernel}, strings.Fields(e.Initrd)...) {
			if ref != "" && !onESP[strings.ToLower(ref)] {
				r.Problems = append(r.Problems, fmt.Sprintf("%s refers to %s, which is not on the ESP", f.Path, ref))
			}
		}
		checkRootArg(r, f.Path, e.Cmdline)
	}
	if len(r.Loader.Entries) == 0 {
		r.Problems = append(r.Problems, "no loader entries in "+espEntriesDir)
	} else if r.DefaultEntry() == nil {
		r.Problems = append(r.Problems, fmt.Sprintf("loader.conf default %q matches no entry", r.Loader.Default))
	}
	return nil
}

// checkRootArg flags a root=PARTUUID= that names no partition of the disk,
// the classic cause of "waiting for root device" after re-partitioning.
func checkRootArg(r *Report, entry, cmdline string) {
	for _, arg := range strings.Fields(cmdline) {
		id, ok := strings.CutPrefix(arg, "root=PARTUUID=")
		if !ok {
			continue
		}
		for _, p := range r.Partitions {
			if strings.EqualFold(p.GUID, id) {
				return
			}
		}
		r.Problems = append(r.Problems, fmt.Sprintf("%s: root=PARTUUID=%s matches no partition", entry, id))
	}
}

// maxESPDepth bounds how deep listFAT descends. A corrupt FAT can hold a
// directory that contains itself, which go-diskfs follows forever.
const maxESPDepth = 32

// listFAT appends every file under dir, depth first in directory order, as
// absolute paths. go-diskfs' ReadDir, unlike its ReadFile, insists on
// io/fs-style paths ("." and "EFI/BOOT", no leading slash).
func listFAT(fs *fat32.FileSystem, dir string, depth int, out *[]FileReport) error {
	if depth > maxESPDepth {
		return fmt.Errorf("directories nested over %d deep: a directory that contains itself?", maxESPDepth)
	}
	entries, err := safeFAT(func() ([]iofs.DirEntry, error) { return fs.ReadDir(dir) })
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !validFATName(e.Name()) {
			return fmt.Errorf("%w: directory /%s holds an entry named %q", errCorruptFAT, strings.TrimPrefix(dir, "."), e.Name())
		}
		p := path.Join(dir, e.Name())
		if e.IsDir() {
			if err := listFAT(fs, p, depth+1, out); err != nil {
				return err
			}
			continue
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		*out = append(*out, FileReport{Path: "/" + p, Size: info.Size()})
	}
	return nil
}

// validFATName reports whether a directory entry's name is one a FAT
// volume can hold outside its "." and ".." links. A corrupt directory can
// hold a file named "." (found by FuzzInspectESP), which would list as the
// directory itself.
func validFATName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00")
}

// errCorruptFAT marks a go-diskfs panic turned into an error.
var errCorruptFAT = errors.New("go-diskfs failed on a corrupt FAT")

// safeFAT runs a go-diskfs FAT32 call. Its reader panics on some corrupt
// volumes (an index out of range in File.Read, go-diskfs 1.9.4, found by
// FuzzInspectESP); inspect reports such an image rather than crashing.
func safeFAT[T any](fn func() (T, error)) (v T, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", errCorruptFAT, p)
		}
	}()
	return fn()
}

func readFATFile(fs *fat32.FileSystem, p string) ([]byte, error) {
	return safeFAT(func() ([]byte, error) { return fs.ReadFile(p) })
}

// grubFiles are the ESP's files that show GRUB boots the disk: its EFI
// binaries and configuration files.
func grubFiles(files []FileReport) []string {
	var found []string
	for _, f := range files {
		name := strings.ToLower(path.Base(f.Path))
		if name == "grub.cfg" || strings.HasPrefix(name, "grub") && strings.HasSuffix(name, ".efi") {
			found = append(found, f.Path)
		}
	}
	return found
}
