package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/exporters/disk"
)

func newInspectCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "inspect DISK",
		Short: "Show a disk image's partitions, filesystems and boot entry (offline)",
		Long: `Read a disk image without mounting it: the GPT, the filesystem in
each partition (type, label, UUID), the files on the EFI System Partition and
systemd-boot's loader entries (kernel, initrd, command line). The image may
be raw, qcow2, VHD or VMDK; an archive (a GCE tar.gz, an OVA) must be
unpacked first.

Inconsistencies, such as an entry naming a missing kernel or a root=PARTUUID
that matches no partition, are listed and make the command fail, so it can
gate a pipeline.`,
		Example: `  strata inspect out/disk.raw
  strata inspect --json out/aws/disk.vmdk`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := disk.Inspect(args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else {
				printReport(out, rep)
			}
			if n := len(rep.Problems); n > 0 {
				return fmt.Errorf("%s: %d problem(s) found", args[0], n)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

func printReport(out io.Writer, r *disk.Report) {
	fmt.Fprintf(out, "%s: %s %s (%s allocated), GPT, disk GUID %s", r.Path, r.Format,
		formatDiskBytes(r.Size), formatDiskBytes(r.Allocated), r.DiskGUID)
	if !r.ProtectiveMBR {
		fmt.Fprint(out, ", no protective MBR")
	}
	fmt.Fprintln(out)

	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tSTART\tSIZE\tTYPE\tNAME\tPARTUUID\tFS\tLABEL\tUUID")
	for _, p := range r.Partitions {
		fsType, label, uuid := "-", "-", "-"
		if p.Filesystem != nil {
			fsType, label, uuid = p.Filesystem.Type, p.Filesystem.Label, p.Filesystem.UUID
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Number,
			formatDiskBytes(p.Start), formatDiskBytes(p.End-p.Start), p.Type, p.Name, p.GUID, fsType, label, uuid)
	}
	tw.Flush()

	if r.Loader != nil {
		fmt.Fprintf(out, "\nsystemd-boot: default %q, timeout %q\n", r.Loader.Default, r.Loader.Timeout)
		def := r.DefaultEntry()
		for _, e := range r.Loader.Entries {
			mark := ""
			if def != nil && def.File == e.File {
				mark = " (default)"
			}
			fmt.Fprintf(out, "  %s%s\n", e.File, mark)
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintf(tw, "    title\t%s\n", e.Title)
			if e.Version != "" {
				fmt.Fprintf(tw, "    version\t%s\n", e.Version)
			}
			fmt.Fprintf(tw, "    kernel\t%s\n", e.Kernel)
			fmt.Fprintf(tw, "    initrd\t%s\n", e.Initrd)
			fmt.Fprintf(tw, "    cmdline\t%s\n", e.Cmdline)
			tw.Flush()
		}
	}

	if len(r.ESPFiles) > 0 {
		fmt.Fprintln(out, "\nESP files:")
		for _, f := range r.ESPFiles {
			fmt.Fprintf(out, "  %10s  %s\n", formatDiskBytes(f.Size), f.Path)
		}
	}

	if len(r.Problems) > 0 {
		fmt.Fprintln(out, "\nproblems:")
		for _, p := range r.Problems {
			fmt.Fprintf(out, "  - %s\n", p)
		}
	}
}
