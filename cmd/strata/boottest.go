package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/boottest"
	"github.com/strata-dev/strata/checks"
	"github.com/strata-dev/strata/checks/diskimage"
	"github.com/strata-dev/strata/layers/node"
)

type bootTestOptions struct {
	bus, memory, accel string
	cpus               int
	timeout, stall     time.Duration
	console, junit     string
	markers            []string
	// markersGiven: --marker was on the command line.
	markersGiven     bool
	asJSON, noChecks bool
}

// The emulator and firmware boot-test uses; tests replace them with
// fakes. The zero values are boottest's defaults.
var (
	bootTestQEMU     string
	bootTestFirmware boottest.Firmware
)

// qemuFormats are QEMU's names of the disk formats strata writes, as
// diskimage names them.
var qemuFormats = map[string]string{"raw": "raw", "qcow2": "qcow2", "vhd": "vpc", "vmdk": "vmdk"}

// bootFailures end a boot at once: the e2e tier's list. "Failed to start"
// is not among them: a unit that fails is the system state check's to
// report, and the checks still run.
var bootFailures = []string{"Kernel panic", "emergency mode", "Failed to mount"}

// defaultMarkers wait for systemd's line "Reached target multi-user.target
// - Multi-User System." (older systemd: "Reached target Multi-User
// System.").
var defaultMarkers = []string{"Reached target", "Multi-User System"}

var memoryRE = regexp.MustCompile(`^[1-9][0-9]*[MGT]?$`)

func newBootTestCmd() *cobra.Command {
	var o bootTestOptions
	cmd := &cobra.Command{
		Use:   "boot-test DISK",
		Short: "Boot a disk image under QEMU and check the running system",
		Long: `Boot a disk image under QEMU with UEFI firmware (OVMF), wait for a
marker on the serial console (by default systemd reaching
multi-user.target), and check the booted system: every service the image's
checks (` + node.ChecksFile + `) want enabled is active, masked
units are masked, the sysctls hold their values, the modules are loaded,
systemctl is-system-running says running, and crictl info answers where
crictl is installed. The results print as strata inspect prints its checks.

The disk may be raw, qcow2, VHD, VMDK, an OVA or a GCE tar.gz, and is
attached with snapshot=on: the boot never changes it. The guest gets a
NIC with restricted user networking: a DHCP lease, and no way out.

The checks get into the guest through cloud-init: a NoCloud seed, a small
read-only drive, whose user-data writes the check script and runs it once
the boot is over. An image without cloud-init, with cloud-init disabled,
or whose datasource_list leaves out NoCloud (the aws, azure, gcp, vsphere
and openstack outputs pin their cloud's) is only booted to the marker, and
the checks are reported as skipped, with the reason.

--accel auto (the default) uses KVM when /dev/kvm opens read-write and
OVMF, started under KVM, reaches its shell within 15 s; otherwise TCG,
software emulation, which takes minutes per boot. --accel kvm skips that
probe; --accel tcg never uses KVM.

A failed boot (the timeout, the console silent for --stall twice, a kernel
panic, emergency mode) or a failed check exits 1, a wrong flag 2.`,
		Example: `  strata boot-test out/disk.raw
  strata boot-test --console console.log --junit boot.xml out/qemu/disk.qcow2
  strata boot-test --bus nvme --accel tcg out/aws/disk.vmdk
  strata boot-test --no-checks --marker "login:" out/vsphere/disk.ova`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return badFlagError{err}
			}
			o.markersGiven = cmd.Flags().Changed("marker")
			return runBootTest(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.bus, "bus", "virtio", "how the guest sees the disk: virtio, nvme or scsi (virtio-scsi)")
	f.StringVar(&o.memory, "memory", "2048", "guest memory, as QEMU's -m: MiB, or with a suffix M, G or T")
	f.IntVar(&o.cpus, "cpus", 2, "virtual CPUs")
	f.DurationVar(&o.timeout, "timeout", 15*time.Minute, "give up on a boot after this long (TCG is slow)")
	f.DurationVar(&o.stall, "stall", 4*time.Minute, "boot once more if the console is silent this long (a TCG guest now and then freezes early in its boot); 0: never")
	f.StringVar(&o.accel, "accel", boottest.AccelAuto, "accelerator: auto (KVM if a probe shows it runs guests, else TCG), kvm or tcg")
	f.StringVar(&o.console, "console", "", "keep the raw serial console in this file")
	f.StringArrayVar(&o.markers, "marker", defaultMarkers, "console text that shows the boot succeeded (repeatable: all must appear)")
	f.BoolVar(&o.asJSON, "json", false, "print the report as JSON")
	f.StringVar(&o.junit, "junit", "", "also write the results as JUnit XML to this file")
	f.BoolVar(&o.noChecks, "no-checks", false, "only boot to the marker; run no checks in the guest")
	return cmd
}

func (o bootTestOptions) validate() error {
	var errs []error
	if !slices.Contains([]string{"virtio", "nvme", "scsi"}, o.bus) {
		errs = append(errs, fmt.Errorf("--bus %q: want virtio, nvme or scsi", o.bus))
	}
	if !slices.Contains([]string{boottest.AccelAuto, boottest.AccelKVM, boottest.AccelTCG}, o.accel) {
		errs = append(errs, fmt.Errorf("--accel %q: want auto, kvm or tcg", o.accel))
	}
	if !memoryRE.MatchString(o.memory) {
		errs = append(errs, fmt.Errorf("--memory %q: want MiB (2048) or a size with M, G or T (4G)", o.memory))
	}
	if o.cpus < 1 {
		errs = append(errs, fmt.Errorf("--cpus %d: want 1 or more", o.cpus))
	}
	if o.timeout <= 0 {
		errs = append(errs, fmt.Errorf("--timeout %s: want a positive duration", o.timeout))
	}
	if o.stall < 0 {
		errs = append(errs, fmt.Errorf("--stall %s: want a duration, or 0 for none", o.stall))
	}
	if len(o.markers) == 0 || slices.Contains(o.markers, "") {
		errs = append(errs, errors.New("--marker: want text that appears on the console"))
	}
	return errors.Join(errs...)
}

// bootTestReport is the JSON report.
type bootTestReport struct {
	Path   string `json:"path"`
	Format string `json:"format"`
	Bus    string `json:"bus"`
	Accel  string `json:"accel"`
	// AccelReason says why auto chose Accel.
	AccelReason string `json:"accelReason,omitempty"`
	// Seconds is the boot's length, QEMU's start to its stop.
	Seconds float64 `json:"seconds"`
	// Console is where the raw console was kept, if it was.
	Console string          `json:"console,omitempty"`
	Checks  []checks.Result `json:"checks"`
}

func runBootTest(ctx context.Context, out, log io.Writer, path string, o bootTestOptions) error {
	fw := bootTestFirmware
	if fw == (boottest.Firmware{}) {
		var err error
		if fw, err = boottest.FindFirmware(); err != nil {
			return err
		}
	}
	img, err := diskimage.Open(ctx, path)
	if err != nil {
		return err
	}
	defer img.Close()
	disk, format := img.Disk()
	qformat, ok := qemuFormats[format]
	if !ok {
		return fmt.Errorf("%s: QEMU cannot boot a %s disk", path, format)
	}
	var g guestPlan
	if !o.noChecks {
		g = planGuest(ctx, img)
	}
	accel, why, err := boottest.ChooseAccel(ctx, o.accel, bootTestQEMU, fw)
	if err != nil {
		return err
	}

	work, err := os.MkdirTemp("", "strata-boot-test-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	opts := boottest.Options{
		Disk: disk, Format: qformat, Bus: o.bus, Accel: accel, Memory: o.memory, CPUs: o.cpus,
		Timeout: o.timeout, StallTimeout: o.stall, ConsoleLog: o.console,
		Expect: o.markers, Fail: bootFailures, Network: true, QEMU: bootTestQEMU, Firmware: fw,
	}
	if g.checks != nil {
		seed := filepath.Join(work, "seed.img")
		if err := g.checks.Seed().Write(seed); err != nil {
			return err
		}
		opts.ReadOnlyDrives = []string{seed}
		// The check script ends only after systemctl is-system-running has
		// settled, which says more than systemd's target line; that line
		// is not waited for unless asked for, since the script's and
		// cloud-init's output share the console with it and can split it.
		var markers []string
		if o.markersGiven {
			markers = o.markers
		}
		opts.Expect = append(markers, boottest.DoneMarker)
	}

	if why != "" {
		fmt.Fprintf(log, "strata boot-test: %s\n", why)
	}
	slow := ""
	if accel == boottest.AccelTCG {
		slow = "; software emulation takes minutes"
	}
	fmt.Fprintf(log, "strata boot-test: booting %s (%s, %s) under %s%s\n", path, qformat, o.bus, strings.ToUpper(accel), slow)
	res, bootErr := bootOnceMore(ctx, log, opts)
	if ctx.Err() != nil {
		return bootErr
	}

	results := []checks.Result{bootResult(res, bootErr, opts.Expect)}
	results = append(results, g.results(res)...)
	rep := bootTestReport{Path: path, Format: img.Report.Format, Bus: o.bus, Accel: accel, AccelReason: why,
		Console: o.console, Checks: results}
	if res != nil {
		rep.Seconds = res.Duration.Seconds()
	}
	if err := printBootTest(out, rep, g.offline, o.asJSON); err != nil {
		return err
	}
	if o.junit != "" {
		if err := writeJUnit(o.junit, "strata boot-test", path, results); err != nil {
			return err
		}
	}
	if bootErr != nil {
		return fmt.Errorf("%s: the boot failed: %w", path, bootErr)
	}
	if n := checks.Failed(results); n > 0 {
		return fmt.Errorf("%s: %d check(s) failed", path, n)
	}
	return nil
}

// bootOnceMore boots, and once more if the guest stalled: under TCG a
// guest now and then freezes for good early in its kernel's boot.
func bootOnceMore(ctx context.Context, log io.Writer, opts boottest.Options) (*boottest.Result, error) {
	res, err := boottest.Boot(ctx, opts)
	if !errors.Is(err, boottest.ErrStalled) {
		return res, err
	}
	first, _, _ := strings.Cut(err.Error(), "\n")
	if opts.ConsoleLog != "" {
		stalled := opts.ConsoleLog + ".stalled"
		if os.Rename(opts.ConsoleLog, stalled) == nil {
			first += " (its console: " + stalled + ")"
		}
	}
	fmt.Fprintf(log, "strata boot-test: the boot stalled, booting once more: %s\n", first)
	return boottest.Boot(ctx, opts)
}

// bootResult is the boot itself, as the first result.
func bootResult(res *boottest.Result, err error, markers []string) checks.Result {
	r := checks.Result{Name: "boot", Source: boottest.Source, Status: checks.Pass, Expected: strings.Join(quoteAll(markers), " and ")}
	if err != nil {
		first, _, _ := strings.Cut(err.Error(), "\n")
		r.Status, r.Detail = checks.Fail, first
		return r
	}
	var last time.Duration
	for _, m := range markers {
		last = max(last, res.Matched[m])
	}
	r.Found = r.Expected
	r.Detail = fmt.Sprintf("reached %s after %s (%s)", r.Expected, last.Round(time.Second), res.Accel)
	return r
}

func quoteAll(s []string) []string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	return q
}

func printBootTest(out io.Writer, rep bootTestReport, offline int, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	took := time.Duration(rep.Seconds * float64(time.Second)).Round(time.Second)
	verdict := "booted in"
	if rep.Checks[0].Status != checks.Pass {
		verdict = "the boot failed after"
	}
	fmt.Fprintf(out, "%s: %s disk on %s, %s: %s %s\n", rep.Path, rep.Format, rep.Bus, strings.ToUpper(rep.Accel), verdict, took)
	if offline > 0 {
		fmt.Fprintf(out, "(%d of the checks the image carries are about its files, packages or command line: strata inspect runs them)\n", offline)
	}
	fmt.Fprintln(out, "\nchecks:")
	return checks.WriteTable(out, rep.Checks)
}

// guestPlan is what the booted guest checks, or why it checks nothing.
type guestPlan struct {
	// checks run in the guest; nil when none do, and skip says why.
	checks  *boottest.GuestChecks
	skip    []checks.Result
	offline int
}

// planGuest reads the image's root filesystem for the checks it carries
// and for whether its cloud-init will read the seed they come in. An image
// whose checks cannot be read is still booted; the report says why no
// checks ran, as an error, which fails the command.
func planGuest(ctx context.Context, img *diskimage.Image) guestPlan {
	fail := func(name, detail string) guestPlan {
		return guestPlan{skip: []checks.Result{{Name: name, Source: boottest.Source, Status: checks.Error, Detail: detail}}}
	}
	root, err := img.RootFS(ctx)
	if err != nil {
		return fail("root filesystem", err.Error())
	}
	defer root.Close()
	carried, err := imageChecks(root)
	if err != nil {
		return fail(node.ChecksFile, err.Error())
	}
	g := boottest.PlanGuestChecks(carried)
	why, err := boottest.WhyNoSeed(root)
	if err != nil {
		return fail("cloud-init", "reading cloud-init's configuration: "+err.Error())
	}
	if why != "" {
		return guestPlan{offline: g.Offline, skip: []checks.Result{{Name: "booted-state checks", Source: boottest.Source, Status: checks.Skip,
			Detail: fmt.Sprintf("%s; %d checks not run, only the boot", why, len(g.Checks)+len(g.Invalid))}}}
	}
	return guestPlan{checks: g, offline: g.Offline}
}

// results are the guest's check results on res's console, or why there
// are none.
func (p guestPlan) results(res *boottest.Result) []checks.Result {
	if p.checks == nil {
		return p.skip
	}
	console := ""
	if res != nil {
		console = res.Console
	}
	return p.checks.Results(console)
}
