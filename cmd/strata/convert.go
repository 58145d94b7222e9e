package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/exporters/formats"
)

func newConvertCmd() *cobra.Command {
	var o struct{ format, output, seed string }
	var list []string
	for _, f := range formats.All {
		list = append(list, fmt.Sprintf("  %-17s %s", f.Name, f.Description))
	}
	cmd := &cobra.Command{
		Use:   "convert --format FORMAT [-o DIR] disk.raw",
		Short: "Convert a raw disk image to qcow2, VHD, VMDK or a GCE archive",
		Long: `Convert a raw disk image into the format a cloud or hypervisor imports.
Holes and all-zero blocks stay holes, and compression runs on every core.

Formats:
` + strings.Join(list, "\n") + `

The output is DIR/<name of disk.raw without .raw>.<extension>, written to a
temporary file and renamed into place when complete. Identifiers inside the
image (a VHD's unique ID, a VMDK's content IDs) derive from --seed and
timestamps from SOURCE_DATE_EPOCH, so equal inputs give identical files.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := formats.Lookup(o.format)
			if err != nil {
				return badFlagError{fmt.Errorf("--format: %w", err)}
			}
			epoch, err := sourceDateEpoch()
			if err != nil {
				return err
			}
			if o.seed == "" {
				var b [16]byte
				_, _ = rand.Read(b[:]) // never fails on Linux
				o.seed = "random:" + hex.EncodeToString(b[:])
			}
			if err := os.MkdirAll(o.output, 0o755); err != nil {
				return err
			}
			dst := filepath.Join(o.output, f.OutputName(args[0]))
			start := time.Now()
			res, err := formats.Convert(cmd.Context(), args[0], dst, f, formats.Options{Seed: o.seed, Time: epoch})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s, %s holding a %s disk (%.1fs)\n", res.Path, f.Name,
				formatDiskBytes(res.Size), formatDiskBytes(res.VirtualSize), time.Since(start).Seconds())
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.format, "format", "", "output format: "+strings.Join(formats.Names(), ", "))
	fl.StringVarP(&o.output, "output", "o", ".", "directory to write the image to")
	fl.StringVar(&o.seed, "seed", "", "seed for identifiers inside the image, e.g. the spec digest (default: random)")
	_ = cmd.MarkFlagRequired("format")
	return cmd
}
