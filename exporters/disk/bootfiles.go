package disk

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// bootFiles are the files the ESP is made from, as found in the tree.
type bootFiles struct {
	// KernelVersion is the part after "vmlinuz-"; empty when only an
	// unversioned /vmlinuz link was found.
	KernelVersion string
	// Kernel, Initrd and Loader are absolute paths inside the tree, after
	// resolving symlinks within it.
	Kernel, Initrd, Loader string
	// root is the host path of the tree.
	root string
}

// host turns a path inside the tree into a host path.
func (b bootFiles) host(p string) string { return filepath.Join(b.root, filepath.FromSlash(p)) }

// initrdNames are the initrd spellings of the initramfs generators we know,
// tried in order for a given kernel version.
var initrdNames = []string{
	"/boot/initrd.img-%s",    // initramfs-tools and dracut on Debian/Ubuntu
	"/boot/initramfs-%s.img", // dracut on Fedora/RHEL
	"/boot/initrd-%s",        // SUSE
}

// kernelLinks are the unversioned kernel and initrd links distros keep,
// used when /boot has no vmlinuz-<version>.
var kernelLinks = []struct{ kernel, initrd string }{
	{"/vmlinuz", "/initrd.img"},
	{"/boot/vmlinuz", "/boot/initrd.img"},
}

// loaderPaths are where systemd-boot's EFI binary lives; the signed build
// (Debian's systemd-boot-efi-amd64-signed) wins over the unsigned one so
// Secure Boot keeps working when the distro provides it.
var loaderPaths = []string{
	"/usr/lib/systemd/boot/efi/systemd-bootx64.efi.signed",
	"/usr/lib/systemd/boot/efi/systemd-bootx64.efi",
}

// findBootFiles locates the newest kernel, its initrd and systemd-boot in
// the tree at root. Missing pieces are reported with the package that
// provides them, since that is what the user has to add to the spec.
func findBootFiles(root string) (bootFiles, error) {
	b := bootFiles{root: root}

	matches, err := filepath.Glob(filepath.Join(root, "boot", "vmlinuz-*"))
	if err != nil {
		return b, fmt.Errorf("listing kernels: %w", err)
	}
	var versions []string
	for _, m := range matches {
		versions = append(versions, strings.TrimPrefix(filepath.Base(m), "vmlinuz-"))
	}
	sort.Slice(versions, func(i, j int) bool { return compareVersions(versions[i], versions[j]) > 0 })

	for _, v := range versions {
		k, err := resolveInRoot(root, "/boot/vmlinuz-"+v)
		if err != nil || !isRegular(b.host(k)) {
			continue
		}
		b.Kernel, b.KernelVersion = k, v
		for _, pattern := range initrdNames {
			if p, err := resolveInRoot(root, fmt.Sprintf(pattern, v)); err == nil && isRegular(b.host(p)) {
				b.Initrd = p
				break
			}
		}
		if b.Initrd == "" {
			return b, fmt.Errorf("kernel /boot/vmlinuz-%s has no initrd (looked for /boot/initrd.img-%s and similar): install initramfs-tools (or dracut) in the OS layer", v, v)
		}
		break
	}

	if b.Kernel == "" {
		for _, l := range kernelLinks {
			k, err := resolveInRoot(root, l.kernel)
			if err != nil || !isRegular(b.host(k)) {
				continue
			}
			i, err := resolveInRoot(root, l.initrd)
			if err != nil || !isRegular(b.host(i)) {
				return b, fmt.Errorf("kernel %s has no initrd at %s: install initramfs-tools (or dracut) in the OS layer", l.kernel, l.initrd)
			}
			b.Kernel, b.Initrd = k, i
			if v, ok := strings.CutPrefix(path.Base(k), "vmlinuz-"); ok {
				b.KernelVersion = v
			}
			break
		}
	}
	if b.Kernel == "" {
		return b, errors.New("no kernel found (no /boot/vmlinuz-* and no /vmlinuz link): install a linux-image-* package in the OS layer")
	}

	for _, p := range loaderPaths {
		if l, err := resolveInRoot(root, p); err == nil && isRegular(b.host(l)) {
			b.Loader = l
			break
		}
	}
	if b.Loader == "" {
		return b, fmt.Errorf("systemd-boot EFI binary not found at %s: install systemd-boot-efi in the OS layer", loaderPaths[len(loaderPaths)-1])
	}
	return b, nil
}

func isRegular(p string) bool {
	fi, err := os.Lstat(p)
	return err == nil && fi.Mode().IsRegular()
}

// resolveInRoot resolves p (absolute, inside the tree) the way the booted
// system would see it: symlinks, absolute or relative, are followed relative
// to root and ".." never climbs above it. The host's own files are never
// consulted, which matters because the tree is someone else's filesystem.
func resolveInRoot(root, p string) (string, error) {
	const maxLinks = 40 // the kernel's own limit (MAXSYMLINKS)
	todo := strings.Split(strings.Trim(path.Clean("/"+p), "/"), "/")
	resolved := "/"
	links := 0
	for len(todo) > 0 {
		name := todo[0]
		todo = todo[1:]
		switch name {
		case "", ".":
			continue
		case "..":
			resolved = path.Dir(resolved)
			continue
		}
		next := path.Join(resolved, name)
		fi, err := os.Lstat(filepath.Join(root, filepath.FromSlash(next)))
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			resolved = next
			continue
		}
		if links++; links > maxLinks {
			return "", fmt.Errorf("%s: too many levels of symbolic links", p)
		}
		target, err := os.Readlink(filepath.Join(root, filepath.FromSlash(next)))
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(target, "/") {
			resolved = "/"
		}
		todo = append(strings.Split(target, "/"), todo...)
	}
	return resolved, nil
}

// compareVersions orders kernel version strings the way `sort -V` does for
// the cases that occur in /boot: runs of digits compare numerically, other
// runs byte-wise, so 6.10.0 > 6.9.0 and 6.1.0-18 > 6.1.0-9.
func compareVersions(a, b string) int {
	for a != "" && b != "" {
		ra, restA := versionRun(a)
		rb, restB := versionRun(b)
		if c := compareRuns(ra, rb); c != 0 {
			return c
		}
		a, b = restA, restB
	}
	return len(a) - len(b)
}

func versionRun(s string) (run, rest string) {
	digit := isDigit(s[0])
	i := 1
	for i < len(s) && isDigit(s[i]) == digit {
		i++
	}
	return s[:i], s[i:]
}

func compareRuns(a, b string) int {
	if isDigit(a[0]) && isDigit(b[0]) {
		a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
		if len(a) != len(b) {
			return len(a) - len(b)
		}
	}
	return strings.Compare(a, b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
