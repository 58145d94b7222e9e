package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/exporters/disk"
	"github.com/strata-dev/strata/exporters/formats"
	"github.com/strata-dev/strata/exporters/providers"
	"github.com/strata-dev/strata/frontend"
	"github.com/strata-dev/strata/spec"
)

type convertOptions struct {
	provider, format, output, seed string
	source                         providers.Source
	cpus                           int
	memory, network                string
	guestApplied                   string
	reuse, reuseRaw                string
	delta                          string
}

func newConvertCmd() *cobra.Command {
	var o convertOptions
	cmd := &cobra.Command{
		Use:   "convert (--provider PROVIDER | --format FORMAT) [-o DIR] disk.raw",
		Short: "Convert a raw disk image for a cloud or hypervisor",
		Long: `Convert a raw disk image into what a cloud or hypervisor imports.
Holes and all-zero blocks stay holes, and compression runs on every core.

With --provider, strata writes the provider's image and a manifest.json
describing it (files with sizes and SHA-256, virtual size, boot mode, the
provider's import parameters), after checking the disk size the provider
accepts. --format with --provider picks another format the provider imports.

Providers:
` + providerList() + `

With --format alone, strata writes that one format and no manifest.

Formats:
` + formatList() + `

The output is DIR/<name of disk.raw without .raw>.<extension>, written to a
temporary file and renamed into place when complete. Identifiers inside the
image (a VHD's unique ID, a VMDK's content IDs) derive from --seed and
timestamps from SOURCE_DATE_EPOCH, so equal inputs give identical files.

With --reuse and --reuse-raw, a disk built on another one converts much
faster: every cluster that holds the same bytes as --reuse-raw at the same
offset is copied, already compressed, from --reuse, that disk's earlier
conversion by strata to the same format (or the provider output directory
holding it). The output is byte for byte the same as without. An image that
does not fit is ignored, with the reason printed; qcow2-compressed and vmdk
use it, the other formats compress nothing cluster by cluster and ignore it.

With --delta DIR, the disk converted is disk.raw with the layer that strata
add-layer --delta wrote to DIR: the layered disk is read through, never
written out. Giving disk.raw as --reuse-raw too lets the conversion copy every
cluster the layer left alone without even reading it twice.`,
		Example: `  strata convert --provider aws -o out/aws out/disk.raw
  strata convert --provider vsphere --format vmdk -o out/vsphere out/disk.raw
  strata convert --format qcow2-compressed -o out out/disk.raw
  strata convert --provider qemu --reuse out/base-qemu --reuse-raw out/base.raw -o out/qemu out/disk.raw
  strata convert --provider qemu --delta out/layer --reuse out/base-qemu --reuse-raw out/base.raw -o out/qemu out/base.raw`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConvert(cmd, o, args[0])
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.provider, "provider", "", "provider to convert for: "+strings.Join(providers.Names(), ", "))
	fl.StringVar(&o.format, "format", "", "output format: "+strings.Join(formats.Names(), ", "))
	fl.StringVarP(&o.output, "output", "o", ".", "directory to write the image to")
	fl.StringVar(&o.seed, "seed", "", "seed for identifiers inside the image, e.g. the spec digest (default: random)")
	fl.IntVar(&o.cpus, "cpus", 0, "ova: vCPUs of the virtual machine (default 2)")
	fl.StringVar(&o.memory, "memory", "", "ova: memory of the virtual machine, e.g. 8GiB (default 4GiB)")
	fl.StringVar(&o.network, "network", "", `ova: the logical network the NIC joins (default "VM Network")`)
	fl.StringVar(&o.source.SpecName, "spec-name", "", "the spec's name, recorded in the manifest")
	fl.StringVar(&o.source.SpecDigest, "spec-digest", "", "the spec's digest, recorded in the manifest")
	// The provider targets built the disk with the guest configuration;
	// a user's own disk says nothing about it.
	fl.StringVar(&o.guestApplied, "guest-applied", "", "the disk has the provider's guest configuration (all, or datasources alone); list it in the manifest")
	fl.Lookup("guest-applied").NoOptDefVal = "all"
	_ = fl.MarkHidden("guest-applied")
	fl.StringVar(&o.reuse, "reuse", "", "an earlier conversion of --reuse-raw (or its provider output directory) to copy compressed clusters from")
	fl.StringVar(&o.reuseRaw, "reuse-raw", "", "the raw disk --reuse was made from")
	fl.StringVar(&o.delta, "delta", "", "a layer written by strata add-layer --delta from disk.raw: convert disk.raw with it added")
	return cmd
}

func runConvert(cmd *cobra.Command, o convertOptions, src string) error {
	if o.provider == "" && o.format == "" {
		return badFlagError{errors.New("give --provider or --format")}
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
	vm, err := o.vm()
	if err != nil {
		return err
	}
	fo := formats.Options{Seed: o.seed, Time: epoch, VM: vm}
	if o.delta != "" {
		d, err := disk.OpenDelta(o.delta, src)
		if err != nil {
			return fmt.Errorf("--delta: %w", err)
		}
		defer d.Close()
		fo.Layer = &formats.Layer{Image: d.Image, Shift: d.Shift, Changes: d.Changes}
	}
	start := time.Now()
	if o.provider != "" {
		return convertForProvider(cmd, o, src, fo, start)
	}
	f, err := formats.Lookup(o.format)
	if err != nil {
		return badFlagError{fmt.Errorf("--format: %w", err)}
	}
	if err := vmFlagsApply(f, vm); err != nil {
		return err
	}
	if fo.Reuse, err = o.reuseFor(f.Name); err != nil {
		return err
	}
	if err := os.MkdirAll(o.output, 0o755); err != nil {
		return err
	}
	res, err := formats.Convert(cmd.Context(), src, filepath.Join(o.output, f.OutputName(src)), f, fo)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s: %s, %s holding a %s disk (%.1fs)\n", res.Path, f.Name,
		formatDiskBytes(res.Size), formatDiskBytes(res.VirtualSize), time.Since(start).Seconds())
	printReuse(cmd.OutOrStdout(), res.Reuse)
	return nil
}

func convertForProvider(cmd *cobra.Command, o convertOptions, src string, fo formats.Options, start time.Time) error {
	p, err := providers.Lookup(o.provider)
	if err != nil {
		return badFlagError{fmt.Errorf("--provider: %w", err)}
	}
	format, err := p.Format(o.format)
	if err != nil {
		return badFlagError{fmt.Errorf("--format: %w", err)}
	}
	f, err := formats.Lookup(format)
	if err != nil {
		return err
	}
	if err := vmFlagsApply(f, fo.VM); err != nil {
		return err
	}
	if fo.Reuse, err = o.reuseFor(f.Name); err != nil {
		return err
	}
	o.source.StrataVersion = frontend.Version
	var applied *providers.Guest
	switch o.guestApplied {
	case "":
	case "all":
		applied = &p.Guest
	case "datasources":
		applied = &providers.Guest{Datasources: p.Guest.Datasources}
	default:
		return badFlagError{fmt.Errorf("--guest-applied: %q is neither all nor datasources", o.guestApplied)}
	}
	m, err := providers.Convert(cmd.Context(), src, o.output, p, providers.Options{Options: fo, Format: o.format, Source: o.source, GuestApplied: applied})
	if err != nil {
		return err
	}
	for _, f := range m.Files {
		fmt.Fprintf(cmd.OutOrStdout(), "%s: %s for %s, %s holding a %s disk (%.1fs)\n", filepath.Join(o.output, f.Name),
			f.Format, p.Name, formatDiskBytes(f.Size), formatDiskBytes(m.VirtualSize), time.Since(start).Seconds())
	}
	printReuse(cmd.OutOrStdout(), m.Reuse)
	fmt.Fprintf(cmd.OutOrStdout(), "%s: import it as %s shows\n", filepath.Join(o.output, providers.ManifestFile), p.Docs)
	return nil
}

// reuseFor reads --reuse and --reuse-raw for a conversion to format.
// --reuse may name the image or a provider output directory, whose
// manifest then names the image of that format.
func (o convertOptions) reuseFor(format string) (*formats.Reuse, error) {
	if o.reuse == "" && o.reuseRaw == "" {
		return nil, nil
	}
	if o.reuse == "" || o.reuseRaw == "" {
		return nil, badFlagError{errors.New("--reuse and --reuse-raw go together: an earlier conversion and the raw disk it was made from")}
	}
	image := o.reuse
	if st, err := os.Stat(image); err == nil && st.IsDir() {
		if image, err = providers.ImageIn(image, format); err != nil {
			return nil, fmt.Errorf("--reuse: %w", err)
		}
	}
	return &formats.Reuse{Raw: o.reuseRaw, Image: image}, nil
}

// printReuse says how the reuse image served, if one was given.
func printReuse(w io.Writer, s *formats.ReuseStats) {
	switch {
	case s == nil:
	case s.Ignored != "":
		fmt.Fprintf(w, "reuse image ignored: %s\n", s.Ignored)
	default:
		fmt.Fprintf(w, "reused %d of %d clusters, compressed %d\n", s.Reused, s.Reused+s.Compressed, s.Compressed)
		if s.Mismatched > 0 {
			fmt.Fprintf(w, "warning: %d clusters of the reuse image failed their checksum and were compressed again: is it the conversion of --reuse-raw?\n", s.Mismatched)
		}
	}
}

func providerList() string {
	var list []string
	for _, p := range providers.All {
		list = append(list, fmt.Sprintf("  %-10s %s (%s)", p.Name, p.Description, strings.Join(p.Formats, ", ")))
	}
	return strings.Join(list, "\n")
}

func formatList() string {
	var list []string
	for _, f := range formats.All {
		list = append(list, fmt.Sprintf("  %-17s %s", f.Name, f.Description))
	}
	return strings.Join(list, "\n")
}

// vm reads the OVA's virtual machine flags.
func (o convertOptions) vm() (formats.VM, error) {
	vm := formats.VM{CPUs: o.cpus, Network: o.network}
	if o.cpus < 0 {
		return vm, badFlagError{fmt.Errorf("--cpus %d: want a positive number", o.cpus)}
	}
	if o.memory != "" {
		size, err := spec.ParseByteSize(o.memory)
		if err != nil || size%spec.MiB != 0 || size == 0 {
			return vm, badFlagError{fmt.Errorf("--memory %s: want a whole number of MiB, such as 8GiB", o.memory)}
		}
		vm.MemoryMiB = int(size / spec.MiB)
	}
	return vm, nil
}

// vmFlagsApply refuses the VM flags for a format that has no VM, before
// anything is written.
func vmFlagsApply(f formats.Format, vm formats.VM) error {
	if vm.IsZero() || f.HasVM {
		return nil
	}
	return badFlagError{fmt.Errorf("--cpus, --memory and --network describe the virtual machine inside an OVA; the %s format has none", f.Name)}
}
