package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/exporters/sysext"
)

func newSysextCmd() *cobra.Command {
	var o struct{ tree, output, name, format, seed string }
	cmd := &cobra.Command{
		Use:   "sysext --tree DIR --name NAME -o NAME-VERSION-ARCH.raw",
		Short: "Write a systemd-sysext image (squashfs or erofs) from a /usr and /opt tree",
		Long: `Write a systemd-sysext image from a tree holding only /usr and /opt, and
add its digest to the SHA256SUMS file beside it (the list systemd-sysupdate
reads from an update source).

The tree must carry /usr/lib/extension-release.d/extension-release.NAME;
on the node the image must be installed as NAME.raw, or as a symlink so
named. The filesystem comes from mksquashfs or mkfs.erofs with every file
owned by root; --seed fixes the erofs UUID and SOURCE_DATE_EPOCH every
timestamp, so equal inputs give byte-identical images.`,
		Example: `  strata sysext --tree ./ext --name kubernetes -o kubernetes-v1.36.3-x86-64.raw
  strata sysext --tree ./ext --name kubernetes --format erofs -o out/kubernetes-v1.36.3-x86-64.raw`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			epoch, err := sourceDateEpoch()
			if err != nil {
				return err
			}
			start := time.Now()
			if err := sysext.Write(cmd.Context(), o.tree, o.output, sysext.Options{
				Name: o.name, Format: o.format, Seed: o.seed, Epoch: epoch,
			}); err != nil {
				return err
			}
			fi, err := os.Stat(o.output)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s sysext %q, %s (%.1fs)\n", o.output, o.format, o.name,
				formatDiskBytes(fi.Size()), time.Since(start).Seconds())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.tree, "tree", "", "directory holding usr/ and opt/")
	f.StringVarP(&o.output, "output", "o", "", "image file to write")
	f.StringVar(&o.name, "name", "", "extension name (extension-release.NAME, installed as NAME.raw)")
	f.StringVar(&o.format, "format", "squashfs", "filesystem: squashfs or erofs")
	f.StringVar(&o.seed, "seed", "", "seed for the filesystem UUID, e.g. the spec digest")
	for _, name := range []string{"tree", "output", "name"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}
