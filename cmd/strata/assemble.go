package main

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/exporters/disk"
)

func newAssembleCmd() *cobra.Command {
	var o struct {
		rootfs, output, size, espSize   string
		seed, cmdline, rootLabel, title string
	}
	cmd := &cobra.Command{
		Use:   "assemble --rootfs DIR|TAR -o disk.raw",
		Short: "Build a bootable GPT disk image (UEFI, systemd-boot) from a root filesystem",
		Long: `Build a GPT disk image from a root filesystem tree: an EFI System
Partition with systemd-boot, the newest kernel and its initrd found in the
tree and a loader entry, and an ext4 root made with mke2fs -d. Nothing is
mounted and no loop device is used.

Inside BuildKit this runs with the merged rootfs mounted read-only; outside
it, --rootfs may also be a tar file (extracting foreign owners and device
nodes needs root). Timestamps come from SOURCE_DATE_EPOCH and identifiers
(GPT GUIDs, filesystem UUID and hash seed, FAT volume ID) from --seed. With
SOURCE_DATE_EPOCH set and no --seed, the identifiers derive from the inputs
(the tree's names, owners, modes, xattrs and contents, and the flags), so
equal inputs give byte-identical images; without either they are random.`,
		Example: `  strata assemble --rootfs ./rootfs -o disk.raw --size 4GiB --seed "$(sha256sum node.yaml)"
  SOURCE_DATE_EPOCH=1700000000 strata assemble --rootfs rootfs.tar.gz -o disk.raw`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			size, err := parseDiskSize(o.size)
			if err != nil {
				return badFlagError{fmt.Errorf("--size: %w", err)}
			}
			espSize, err := parseDiskSize(o.espSize)
			if err != nil {
				return badFlagError{fmt.Errorf("--esp-size: %w", err)}
			}
			epoch, err := sourceDateEpoch()
			if err != nil {
				return err
			}
			start := time.Now()
			res, err := disk.Assemble(cmd.Context(), o.rootfs, o.output, disk.Options{
				Size:      size,
				ESPSize:   espSize,
				Seed:      o.seed,
				Cmdline:   o.cmdline,
				RootLabel: o.rootLabel,
				Title:     o.title,
				Epoch:     epoch,
			})
			if err != nil {
				return err
			}
			l := res.Layout
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s GPT; p1 ESP %s vfat; p2 %s %s ext4 PARTUUID=%s; kernel %s (%.1fs)\n",
				o.output, formatDiskBytes(l.DiskSize), formatDiskBytes(l.ESP.Size()),
				l.Root.Name, formatDiskBytes(l.Root.Size()), l.Root.GUID, res.Kernel,
				time.Since(start).Seconds())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.rootfs, "rootfs", "", "root filesystem: a directory, or a tar file (optionally gzip-compressed)")
	f.StringVarP(&o.output, "output", "o", "", "disk image to write (raw)")
	f.StringVar(&o.size, "size", "8GiB", "whole disk size, a multiple of 1 MiB (e.g. 8GiB, 20G, 4096MiB, or bytes)")
	f.StringVar(&o.espSize, "esp-size", "256MiB", "EFI System Partition size")
	f.StringVar(&o.seed, "seed", "", "seed for disk/partition GUIDs and filesystem UUIDs, e.g. the spec digest (default: derived from the inputs when SOURCE_DATE_EPOCH is set, else random)")
	f.StringVar(&o.cmdline, "cmdline", "", `kernel arguments after "root=PARTUUID=<root> rw"`)
	f.StringVar(&o.rootLabel, "root-label", disk.DefaultRootLabel, "ext4 label (and GPT name) of the root partition")
	f.StringVar(&o.title, "title", disk.DefaultTitle, "boot menu title of the loader entry")
	_ = cmd.MarkFlagRequired("rootfs")
	_ = cmd.MarkFlagRequired("output")
	return cmd
}

// badFlagError marks an invalid flag value, which main reports with exit
// status 2 like cobra's own usage errors.
type badFlagError struct{ error }

func (badFlagError) ExitCode() int { return 2 }

func (e badFlagError) Unwrap() error { return e.error }

// diskSizeUnits are the suffixes parseDiskSize accepts. Bare K/M/G/T are
// binary, as in qemu-img and truncate, since disk sizes are nearly always
// meant that way; KB/MB/GB/TB are decimal.
var diskSizeUnits = []struct {
	suffix string
	factor int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40},
	{"B", 1},
}

// parseDiskSize reads "8GiB", "1.5G", "256MiB" or plain bytes. It is a
// deliberately small local helper; the spec package has the full ByteSize
// type for YAML. Alignment is checked by the disk package.
func parseDiskSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	num, factor := s, int64(1)
	for _, u := range diskSizeUnits {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, factor = strings.TrimSpace(n), u.factor
			break
		}
	}
	if n, err := strconv.ParseInt(num, 10, 64); err == nil {
		if n < 0 || n > math.MaxInt64/factor {
			return 0, fmt.Errorf("size %q out of range", s)
		}
		return n * factor, nil
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) || v*float64(factor) >= math.MaxInt64 {
		return 0, fmt.Errorf("invalid size %q (want e.g. 8GiB, 512MiB or a byte count)", s)
	}
	return int64(math.Round(v * float64(factor))), nil
}

// sourceDateEpoch reads SOURCE_DATE_EPOCH (reproducible-builds.org): unset
// means "now"; set but unparsable is an error rather than a silently
// unreproducible image.
func sourceDateEpoch() (time.Time, error) {
	v, ok := os.LookupEnv("SOURCE_DATE_EPOCH")
	if !ok || v == "" {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a Unix timestamp", v)
	}
	return time.Unix(n, 0).UTC(), nil
}

// formatDiskBytes prints a size in the largest binary unit that keeps it
// at or above 1, with one decimal where it is not whole.
func formatDiskBytes(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	v, i := float64(n), 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f %s", v, units[i])
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}
