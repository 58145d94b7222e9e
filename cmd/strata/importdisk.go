package main

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/exporters/formats"
)

func newImportDiskCmd() *cobra.Command {
	var output, sum, sum512, format string
	cmd := &cobra.Command{
		Use:   "import-disk (IMAGE | DIR) -o disk.raw [--sha256 HEX] [--format FORMAT]",
		Short: "Check a vendor's disk image and write it as the raw disk strata adds layers to",
		Long: `Read a disk image a vendor published (raw, qcow2, VMDK or VHD, told by its
header) and write its virtual disk as a raw image, all-zero blocks left as
holes, for strata add-layer. This is the first step of a build whose spec sets
os.baseDisk. Given a directory, the image is the one file in it.

With --sha256 (or --sha512, for vendors that publish SHA-512 sums only), the
image file must have that checksum, as the vendor publishes it; nothing is
written otherwise. With --format, the image must be of that
format.`,
		Example: `  strata import-disk --sha256 0123...cdef debian-12-genericcloud-amd64.qcow2 -o base.raw`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			start := time.Now()
			src, err := onlyFileIn(args[0])
			if err != nil {
				return err
			}
			for _, c := range []struct {
				name, want string
				hash       func() hash.Hash
			}{{"sha256", sum, sha256.New}, {"sha512", sum512, sha512.New}} {
				if c.want == "" {
					continue
				}
				if err := verifySum(src, c.name, c.want, c.hash()); err != nil {
					return err
				}
			}
			img, err := formats.Open(src)
			if err != nil {
				return err
			}
			defer img.Close()
			if format != "" && img.Format != format {
				return fmt.Errorf("%s is a %s image, not %s: correct os.baseDisk.format, or leave it out to go by the file's header", src, img.Format, format)
			}
			n, err := formats.WriteRaw(cmd.Context(), img, output)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s disk of %s from %s, %s of data (%.1fs)\n",
				output, img.Format, formatDiskBytes(img.Size), src, formatDiskBytes(n), time.Since(start).Seconds())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&output, "output", "o", "", "raw disk image to write")
	f.StringVar(&sum, "sha256", "", "the SHA-256 the image file must have (64 hex digits)")
	f.StringVar(&sum512, "sha512", "", "the SHA-512 the image file must have (128 hex digits)")
	f.StringVar(&format, "format", "", "the format the image must be in: raw, qcow2, vmdk or vhd")
	_ = cmd.MarkFlagRequired("output")
	return cmd
}

// onlyFileIn returns path, or for a directory the one regular file in it:
// a base disk arrives as a directory of one file, however it was fetched.
func onlyFileIn(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil || !st.IsDir() {
		return path, err
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return "", err
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	if len(names) != 1 || len(entries) != 1 {
		return "", fmt.Errorf("%s holds %d entries (%d files): the base disk's directory must hold the disk image alone", path, len(entries), len(names))
	}
	return filepath.Join(path, names[0]), nil
}

// verifySum fails unless the file at path has the checksum want under
// h: a vendor's disk is checked before anything is built on it.
func verifySum(path, name, want string, h hash.Hash) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("%s has %s %s, want %s (os.baseDisk.%s): the file is not the one the spec names; "+
			"check the vendor's published checksum, or fetch the image again", path, name, got, want, name)
	}
	return nil
}
