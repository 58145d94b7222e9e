// Package sysext writes systemd-sysext images: a read-only squashfs or
// erofs filesystem of a /usr and /opt tree, with the extension-release file
// systemd-sysext checks before it merges the image. The filesystem itself
// comes from mksquashfs or mkfs.erofs, run with the flags that make their
// output depend on nothing but the tree, the seed and SOURCE_DATE_EPOCH.
package sysext

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/strata-dev/strata/exporters/atomicfile"
	"github.com/strata-dev/strata/exporters/ident"
)

// Formats are the filesystems an image can be written in, each with the
// tool that writes it and the Debian package that has the tool.
var Formats = map[string]struct{ Tool, Package string }{
	"squashfs": {"mksquashfs", "squashfs-tools"},
	"erofs":    {"mkfs.erofs", "erofs-utils"},
}

// ReleaseDir is where an image's extension-release file sits in its tree.
const ReleaseDir = "usr/lib/extension-release.d"

// Hierarchies are the top-level directories systemd-sysext merges.
var Hierarchies = []string{"usr", "opt"}

// SumsFile lists the images beside it with their SHA-256, in the format
// systemd-sysupdate fetches from an update source.
const SumsFile = "SHA256SUMS"

// Options say how to write an image.
type Options struct {
	// Name is the extension's name: the image must be installed as
	// NAME.raw (or a symlink so named), and its tree must hold
	// usr/lib/extension-release.d/extension-release.NAME.
	Name string
	// Format is squashfs or erofs.
	Format string
	// Seed derives the filesystem UUID (erofs); empty picks none.
	Seed string
	// Epoch, when not zero, stamps every file and the filesystem itself.
	Epoch time.Time
}

// Write builds the image of tree at output and records its digest in the
// SHA256SUMS file beside it. The tool writes a temporary file, renamed to
// output when complete. An older line for output leaves SHA256SUMS first
// and the new one comes after the rename, so a killed run never leaves a
// digest that does not match the file it names.
func Write(ctx context.Context, tree, output string, o Options) (err error) {
	if err := checkTree(tree, o.Name); err != nil {
		return err
	}
	f := Formats[o.Format]
	if _, err := toolArgs(tree, output, o); err != nil {
		return err
	}
	if _, err := exec.LookPath(f.Tool); err != nil {
		return fmt.Errorf("%s images need %s, which is not installed here: install the %s package (in BuildKit, in the tools image)", o.Format, f.Tool, f.Package)
	}
	// The tool creates the file itself (an existing one would make
	// mksquashfs append to it), so the temporary file is made and removed
	// to reserve a fresh name.
	tmp, err := atomicfile.Create(output, 0o644)
	if err != nil {
		return err
	}
	defer tmp.AbortOnError(&err)
	if err := os.Remove(tmp.Name()); err != nil {
		return err
	}
	args, err := toolArgs(tree, tmp.Name(), o)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, f.Tool, args...)
	// The epoch goes in as flags; mksquashfs refuses to run with
	// SOURCE_DATE_EPOCH also in its environment, as it is in a build step.
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "SOURCE_DATE_EPOCH=") })
	// A killed strata takes its tool along, rather than leave it writing.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w\n%s", f.Tool, err, strings.TrimSpace(out.String()))
	}
	sum, err := fileSHA256(tmp.Name())
	if err != nil {
		return err
	}
	if err := writeSums(output, ""); err != nil {
		return err
	}
	if err := tmp.Commit(); err != nil {
		return err
	}
	return writeSums(output, sum)
}

// checkTree refuses trees systemd-sysext would merge wrongly or not at all.
func checkTree(tree, name string) error {
	if name == "" || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
		return fmt.Errorf("invalid extension name %q", name)
	}
	entries, err := os.ReadDir(tree)
	if err != nil {
		return fmt.Errorf("read tree: %w", err)
	}
	for _, e := range entries {
		if !isHierarchy(e.Name()) {
			return fmt.Errorf("tree has /%s: a system extension carries only /usr and /opt; anything else would vanish when it is merged", e.Name())
		}
	}
	release := filepath.Join(tree, ReleaseDir, "extension-release."+name)
	if _, err := os.Stat(release); err != nil {
		return fmt.Errorf("tree lacks /%s/extension-release.%s, without which systemd-sysext refuses the image: %w", ReleaseDir, name, err)
	}
	return nil
}

func isHierarchy(dir string) bool {
	for _, h := range Hierarchies {
		if dir == h {
			return true
		}
	}
	return false
}

// toolArgs are the tool's arguments. Files are owned by root whatever the
// builder's user was, and timestamps follow Epoch when it is set.
func toolArgs(tree, output string, o Options) ([]string, error) {
	switch o.Format {
	case "squashfs":
		args := []string{tree, output, "-noappend", "-all-root", "-no-progress", "-quiet", "-reproducible"}
		if !o.Epoch.IsZero() {
			t := strconv.FormatInt(o.Epoch.Unix(), 10)
			args = append(args, "-mkfs-time", t, "-all-time", t)
		}
		return args, nil
	case "erofs":
		// lz4hc: the compressor every erofs-enabled kernel decompresses.
		args := []string{"-zlz4hc", "--all-root", "--quiet"}
		if o.Seed != "" {
			args = append(args, "-U"+ident.UUID(o.Seed, "erofs-uuid/sysext/"+o.Name).String())
		}
		if !o.Epoch.IsZero() {
			args = append(args, "-T"+strconv.FormatInt(o.Epoch.Unix(), 10))
		}
		return append(args, output, tree), nil
	}
	return nil, fmt.Errorf("unknown sysext format %q: use squashfs or erofs", o.Format)
}

// fileSHA256 is the hex SHA-256 of the file at path.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeSums replaces output's line in the SHA256SUMS beside it with one
// for sum, or with none when sum is empty; it leaves the file alone when
// that changes nothing.
func writeSums(output, sum string) error {
	name := filepath.Base(output)
	sums := filepath.Join(filepath.Dir(output), SumsFile)
	old, err := os.ReadFile(sums)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	var b strings.Builder
	for _, line := range strings.SplitAfter(string(old), "\n") {
		if line != "" && !strings.HasSuffix(strings.TrimSpace(line), " "+name) {
			b.WriteString(line)
		}
	}
	if sum != "" {
		fmt.Fprintf(&b, "%s  %s\n", sum, name)
	}
	if b.String() == string(old) {
		return nil
	}
	return atomicfile.WriteFile(sums, []byte(b.String()), 0o644)
}
