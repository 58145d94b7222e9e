package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/checks"
	"github.com/strata-dev/strata/checks/diskimage"
	"github.com/strata-dev/strata/exporters/atomicfile"
	"github.com/strata-dev/strata/exporters/disk"
	"github.com/strata-dev/strata/layers/node"
)

type inspectOptions struct {
	asJSON     bool
	checkFiles []string
	secrets    []string
	junit      string
	noContent  bool
	noHygiene  bool
	// noImageChecks leaves out the checks the image carries (node.ChecksFile).
	noImageChecks bool
}

func newInspectCmd() *cobra.Command {
	var o inspectOptions
	cmd := &cobra.Command{
		Use:   "inspect DISK",
		Short: "Show a disk image's partitions and boot entry, and check its content (offline)",
		Long: `Read a disk image without mounting it: the GPT, the filesystem in
each partition (type, label, UUID), the files on the EFI System Partition and
systemd-boot's loader entries (kernel, initrd, command line). The image may
be raw, qcow2, VHD or VMDK, or an OVA or GCE tar.gz, which is unpacked into
a temporary directory.

Inconsistencies, such as an entry naming a missing kernel or a root=PARTUUID
that matches no partition, are listed and make the command fail, so it can
gate a pipeline.

Then the root filesystem's content is checked, read with debugfs (no mount,
no root, no loop device): the built-in hygiene checks (no SSH host keys, no
machine-id, no cloud-init instance, no shell history, core dumps or apt
lists, a small /var/log, no build-time resolv.conf, and with
--secret-value-file no file holding a secret), the checks the image carries
in ` + node.ChecksFile + ` (what strata's layers and the spec's validate: list
asked for, written by the build), and the checks of each --checks file
(files, packages, services, sysctls, modules, the kernel command line; see
docs/validation.md). A failed check fails the command.`,
		Example: `  strata inspect out/disk.raw
  strata inspect --checks node-checks.yaml --junit checks.xml out/qemu/disk.qcow2
  strata inspect --secret-value-file ./registry-token --json out/aws/disk.vmdk
  strata inspect --no-content out/gcp/disk.tar.gz`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInspect(cmd.Context(), cmd.OutOrStdout(), args[0], o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.asJSON, "json", false, "print the report, check results included, as JSON")
	f.StringArrayVar(&o.checkFiles, "checks", nil, "a YAML file of content checks to run (repeatable)")
	f.StringArrayVar(&o.secrets, "secret-value-file", nil, "a file holding a secret value (as given to the build) that no file in the image may contain (repeatable)")
	f.StringVar(&o.junit, "junit", "", "also write the results (the partition report's problems, then each check) as JUnit XML to this file")
	f.BoolVar(&o.noContent, "no-content", false, "read the partition table and boot entry only; check no content")
	f.BoolVar(&o.noHygiene, "no-hygiene", false, "leave out the built-in hygiene checks (the image's own checks and --checks files still run)")
	f.BoolVar(&o.noImageChecks, "no-image-checks", false, "do not run the checks the image carries in "+node.ChecksFile)
	return cmd
}

// inspectReport is the JSON report: disk.Inspect's, with the check results.
type inspectReport struct {
	*disk.Report
	Checks []checks.Result `json:"checks,omitempty"`
}

func runInspect(ctx context.Context, out io.Writer, path string, o inspectOptions) error {
	// The check files and secrets are read first, so that a mistake in
	// them fails before the image is unpacked.
	list, err := inspectChecks(o)
	if err != nil {
		return err
	}
	img, err := diskimage.Open(ctx, path)
	if err != nil {
		return err
	}
	defer img.Close()
	rep := inspectReport{Report: img.Report}
	if !o.noContent {
		rep.Checks = checkContent(ctx, img, list, !o.noImageChecks)
	}

	if o.asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printReport(out, rep.Report)
		if !o.noContent {
			fmt.Fprintln(out, "\nchecks:")
			if err := checks.WriteTable(out, rep.Checks); err != nil {
				return err
			}
		}
	}
	if o.junit != "" {
		if err := writeJUnit(o.junit, "strata inspect", path, append([]checks.Result{diskResult(rep.Report)}, rep.Checks...)); err != nil {
			return err
		}
	}
	return inspectVerdict(path, len(rep.Problems), checks.Failed(rep.Checks))
}

// inspectChecks assembles the checks to run: the built-in hygiene checks
// (tuned by the check files' hygiene sections, fed the secrets), then each
// file's checks in order.
func inspectChecks(o inspectOptions) ([]checks.Check, error) {
	var h checks.HygieneOptions
	var user []checks.Check
	for _, p := range o.checkFiles {
		s, err := checks.Load(p)
		if err != nil {
			return nil, err
		}
		user = append(user, s.Checks...)
		h.Skip = append(h.Skip, s.Hygiene.Skip...)
		h.VarLogLimit = cmp.Or(s.Hygiene.VarLogLimit, h.VarLogLimit)
		h.SecretScanMaxFile = cmp.Or(s.Hygiene.SecretScanMaxFile, h.SecretScanMaxFile)
	}
	for _, p := range o.secrets {
		s, err := checks.ReadSecretFile(p)
		if err != nil {
			return nil, fmt.Errorf("--secret-value-file: %w", err)
		}
		h.Secrets = append(h.Secrets, s)
	}
	if o.noHygiene {
		return user, nil
	}
	return append(checks.Hygiene(h), user...), nil
}

// checkContent runs the checks against the image's root filesystem, with
// the checks the image carries when withImage is set. An image whose root
// cannot be read gets one failed result saying why, so the partition
// report still prints.
func checkContent(ctx context.Context, img *diskimage.Image, list []checks.Check, withImage bool) []checks.Result {
	root, err := img.RootFS(ctx)
	if err != nil {
		return []checks.Result{{Name: "root filesystem", Source: "inspect", Status: checks.Error, Detail: err.Error()}}
	}
	defer root.Close()
	var unreadable []checks.Result
	if withImage {
		// A file this strata cannot read (a newer strata's) fails the run,
		// but the hygiene and --checks results still come.
		carried, err := imageChecks(root)
		if err != nil {
			unreadable = []checks.Result{{Name: node.ChecksFile, Source: "image", Status: checks.Error, Path: node.ChecksFile, Detail: err.Error()}}
		}
		list = append(list, carried...)
	}
	target := checks.Image{Root: root}
	if e := img.Report.DefaultEntry(); e != nil {
		target.Cmdline, target.BootEntry = e.Cmdline, "ESP:"+e.File
	}
	return append(unreadable, checks.Run(ctx, target, list)...)
}

// imageChecks are the checks the image was built to pass, as strata
// writes them into every image it builds; an image without the file
// (another builder's, or an older strata's) carries none.
func imageChecks(root fs.FS) ([]checks.Check, error) {
	for _, file := range node.ChecksFiles {
		data, err := fs.ReadFile(root, strings.TrimPrefix(file, "/"))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", file, err)
		}
		s, err := checks.Parse("image:"+file, data)
		if err != nil {
			return nil, err
		}
		return s.Checks, nil
	}
	return nil, nil
}

// diskResult is the partition and boot report as one result, so that the
// JUnit file shows its problems too.
func diskResult(r *disk.Report) checks.Result {
	res := checks.Result{Name: "partitions and boot entry", Source: "inspect", Status: checks.Pass,
		Detail: fmt.Sprintf("%d partitions", len(r.Partitions))}
	if len(r.Problems) > 0 {
		res.Status = checks.Fail
		res.Detail = strings.Join(r.Problems, "; ")
	}
	return res
}

// writeJUnit writes tool's results next to where they go and renames them
// into place, so a killed run leaves no half-written report for CI.
func writeJUnit(dst, tool, image string, results []checks.Result) (err error) {
	tmp, err := atomicfile.Create(dst, 0o644)
	if err != nil {
		return err
	}
	defer tmp.AbortOnError(&err)
	// A report is for whoever runs CI, whatever the umask.
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := checks.WriteJUnitFor(tmp, tool, image, results); err != nil {
		return fmt.Errorf("writing %s: %w", dst, err)
	}
	return tmp.Commit()
}

func inspectVerdict(path string, problems, failed int) error {
	var parts []string
	if problems > 0 {
		parts = append(parts, fmt.Sprintf("%d problem(s) found", problems))
	}
	if failed > 0 {
		parts = append(parts, fmt.Sprintf("%d check(s) failed", failed))
	}
	if len(parts) == 0 {
		return nil
	}
	return fmt.Errorf("%s: %s", path, strings.Join(parts, ", "))
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

	if len(r.GRUB) > 0 {
		fmt.Fprintf(out, "\nGRUB (its configuration is not read): %s\n", strings.Join(r.GRUB, " "))
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
