package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/exporters/disk"
)

func newAddLayerCmd() *cobra.Command {
	var tree, output string
	cmd := &cobra.Command{
		Use:   "add-layer BASE.raw --tree DIR -o disk.raw",
		Short: "Add a tree of files to the root filesystem of a disk strata assembled",
		Long: `Write a copy of BASE.raw, a disk built by strata assemble, whose ext4 root
also holds the files of --tree, as if the tree had been merged on top of the
root filesystem the base was assembled from: a file replaces the file at its
path, a directory takes over the directory's mode, owner and time and keeps
its other entries. Owners, modes, times, hard links, symlinks, device nodes
and extended attributes are kept, as by strata assemble.

The base's blocks stay where they are, so adding a layer costs only its own
files, and a conversion given the base's image (strata convert --reuse) copies
the clusters the layer did not touch. The tree must leave the boot files alone
(/boot, /efi, kernel modules, systemd-boot): the boot partition was made from
the base. Timestamps follow SOURCE_DATE_EPOCH, as for strata assemble.`,
		Example: `  strata add-layer os.raw --tree ./kubernetes -o node.raw`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			epoch, err := sourceDateEpoch()
			if err != nil {
				return err
			}
			start := time.Now()
			res, err := disk.AddLayer(cmd.Context(), args[0], tree, output, disk.LayerOptions{Epoch: epoch})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s plus %d entries of %s on p%d (%.1fs)\n",
				output, args[0], res.Entries, tree, res.Root.Number, time.Since(start).Seconds())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&tree, "tree", "", "directory whose files are added")
	f.StringVarP(&output, "output", "o", "", "disk image to write (raw)")
	_ = cmd.MarkFlagRequired("tree")
	_ = cmd.MarkFlagRequired("output")
	return cmd
}
