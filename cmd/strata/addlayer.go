package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/exporters/disk"
)

func newAddLayerCmd() *cobra.Command {
	var tree, output string
	var delta bool
	cmd := &cobra.Command{
		Use:   "add-layer BASE.raw --tree DIR (-o disk.raw | --delta -o DIR)",
		Short: "Add a tree of files to the root filesystem of a disk",
		Long: `Write a copy of BASE.raw, a disk built by strata assemble or a vendor's disk
(strata import-disk writes one as raw), whose ext4 root also holds the files
of --tree, as if the tree had been merged on top of the root filesystem: a
file replaces the file at its path, a directory takes over the directory's
mode, owner and time and keeps its other entries. Owners, modes, times, hard links, symlinks, device nodes
and extended attributes are kept, as by strata assemble.

The base's blocks stay where they are, so adding a layer costs only its own
files, and a conversion given the base's image (strata convert --reuse) copies
the clusters the layer did not touch. The tree must leave the boot files alone
(/boot, /efi, kernel modules, systemd-boot): the boot partition was made from
the base. Timestamps follow SOURCE_DATE_EPOCH, as for strata assemble.

With --delta, -o names a directory that receives only what the layer changes:
the edited root filesystem holding the changed blocks (delta.img, sparse) and
their list (delta.json). strata convert --delta reads BASE.raw and that
directory as the layered disk, which is then never written out in full.`,
		Example: `  strata add-layer os.raw --tree ./kubernetes -o node.raw
  strata add-layer os.raw --tree ./kubernetes --delta -o node-layer`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			epoch, err := sourceDateEpoch()
			if err != nil {
				return err
			}
			start := time.Now()
			add := disk.AddLayer
			if delta {
				add = disk.AddLayerDelta
			}
			res, err := add(cmd.Context(), args[0], tree, output, disk.LayerOptions{Epoch: epoch})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s plus %d entries of %s on p%d, %s changed (%.1fs)\n",
				output, args[0], res.Entries, tree, res.Root.Number, formatDiskBytes(res.Changed), time.Since(start).Seconds())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&tree, "tree", "", "directory whose files are added")
	f.StringVarP(&output, "output", "o", "", "disk image to write (raw), or with --delta the directory")
	f.BoolVar(&delta, "delta", false, "write only what the layer changes, for strata convert --delta")
	_ = cmd.MarkFlagRequired("tree")
	_ = cmd.MarkFlagRequired("output")
	return cmd
}
