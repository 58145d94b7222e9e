// Package boottest boots a disk image under QEMU with UEFI firmware and
// watches its serial console: the e2e boot tests and `strata boot-test`
// use it.
//
// It uses software emulation (TCG) unless told otherwise: the e2e tests
// must run on CI machines without usable KVM, and the same slow path
// everywhere keeps their timeouts honest. Options.Accel asks for KVM, or
// for KVM when ProbeKVM shows that guests really run under it. The disk is
// attached with snapshot=on, so a boot never changes the image under test.
package boottest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// qemuBinary is the emulator to run; tests replace it with a fake.
var qemuBinary = "qemu-system-x86_64"

// consoleTailLines is how much of the console a boot error carries: enough
// to show a kernel panic's trace or the unit that failed.
const consoleTailLines = 150

// diskFormats are the QEMU block formats Boot accepts, matching the formats
// strata writes.
var diskFormats = map[string]bool{"raw": true, "qcow2": true, "vpc": true, "vmdk": true}

// BootFailures are console substrings that mean a Linux boot went wrong.
// Callers pass them (or their own list) as Options.Fail.
var BootFailures = []string{"Kernel panic", "Failed to start", "emergency mode"}

// Options describe one boot.
type Options struct {
	// Disk is the image to boot. It is opened with snapshot=on and never
	// modified.
	Disk string
	// Format is the QEMU format name of Disk: "raw" (default), "qcow2",
	// "vpc" or "vmdk".
	Format string
	// Bus is how the guest sees the disk: "virtio" (default); "nvme", as
	// EC2's Nitro instances and GCE's newer machines present it; or
	// "scsi", a virtio-scsi controller as GCE's other machines have.
	// VMware's pvscsi and LSI SAS controllers are emulated by QEMU, but
	// Debian's OVMF has no driver for either, so nothing boots from them.
	Bus string
	// ReadOnlyDrives are raw images attached after Disk as read-only
	// virtio drives, such as a NoCloudSeed.
	ReadOnlyDrives []string
	// Accel is the accelerator: "tcg" (default), "kvm", or "auto", KVM if
	// ProbeKVM passes and TCG otherwise (see ChooseAccel). Result.Accel
	// says which one ran.
	Accel string
	// Memory is QEMU's -m value; default "2048" (MiB).
	Memory string
	// CPUs is the number of virtual CPUs; default 2.
	CPUs int
	// Timeout bounds the whole boot; default 10 minutes.
	Timeout time.Duration
	// StallTimeout, if set, ends the boot with an error wrapping
	// ErrStalled once the console has been silent that long: a guest
	// under TCG now and then freezes for good early in its kernel's boot,
	// which a caller may want to tell from a boot that went wrong.
	StallTimeout time.Duration
	// ConsoleLog is the file the raw serial console is written to, escape
	// sequences and all. By default a temporary file is used, removed
	// after a successful boot and kept (and named in the error) otherwise.
	ConsoleLog string
	// Expect are plain substrings (not regular expressions) that must all
	// appear on the console, in any order. Boot stops QEMU as soon as the
	// last one appears. Matching runs on the cleaned text: without ANSI
	// escapes, carriage returns or other control characters, and with a
	// line break wherever the guest moves the cursor. With no Expect
	// patterns Boot succeeds only if QEMU exits by itself with status 0,
	// for guests that power off when their check is done.
	Expect []string
	// Fail are plain substrings that end the boot with an error as soon as
	// one appears, e.g. BootFailures.
	Fail []string
	// Stdout, if set, receives a live copy of the cleaned console text.
	Stdout io.Writer
	// Firmware overrides the UEFI firmware; the zero value means
	// FindFirmware.
	Firmware Firmware
	// QEMU is the emulator binary; default qemu-system-x86_64 from PATH.
	QEMU string
	// Network gives the guest a NIC with restricted user networking: it
	// gets a DHCP lease, so network-online.target and the units after it
	// come up as on a cloud, but it can reach nothing outside QEMU, not
	// even the host. Without it the guest has no NIC, and firmware with
	// nothing to boot does not wait on network boot attempts.
	Network bool
}

// Result describes a boot, successful or not.
type Result struct {
	// Duration is the time from starting QEMU to stopping it.
	Duration time.Duration
	// Console is the full cleaned console text.
	Console string
	// Matched maps each Expect pattern that appeared to the time from
	// start until it appeared.
	Matched map[string]time.Duration
	// Accel is the accelerator QEMU ran with, "tcg" or "kvm", and
	// AccelWhy what chose it when Options.Accel was "auto".
	Accel, AccelWhy string
}

// withDefaults returns a copy of o with defaults filled in, or an error for
// options that cannot work.
func (o Options) withDefaults() (Options, error) {
	if o.Disk == "" {
		return o, errors.New("qemu: no disk given")
	}
	if o.Format == "" {
		o.Format = "raw"
	}
	switch o.Bus {
	case "":
		o.Bus = "virtio"
	case "virtio", "nvme", "scsi":
	default:
		return o, fmt.Errorf("qemu: unsupported disk bus %q", o.Bus)
	}
	if !diskFormats[o.Format] {
		return o, fmt.Errorf("qemu: unsupported disk format %q", o.Format)
	}
	if o.Accel == "" {
		o.Accel = AccelTCG
	}
	if !slices.Contains(accels, o.Accel) {
		return o, fmt.Errorf("qemu: accelerator %q is not one of %s", o.Accel, strings.Join(accels, ", "))
	}
	if o.Memory == "" {
		o.Memory = "2048"
	}
	if o.CPUs == 0 {
		o.CPUs = 2
	}
	if o.CPUs < 0 {
		return o, fmt.Errorf("qemu: invalid CPU count %d", o.CPUs)
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Minute
	}
	for _, pat := range append(append([]string(nil), o.Expect...), o.Fail...) {
		// An empty pattern matches at once and would hide a broken test.
		if pat == "" {
			return o, errors.New("qemu: empty Expect or Fail pattern")
		}
	}
	return o, nil
}

// args builds QEMU's command line. vars is the private copy of the firmware
// variable store.
func (o Options) args(code, vars string) []string {
	args := []string{
		// Leave out the host's QEMU config files and the default devices
		// (CD-ROM, NIC, VGA): fewer firmware boot entries to try, and the
		// same machine on every host.
		"-no-user-config", "-nodefaults",
		"-accel", o.Accel,
		"-machine", "q35",
		"-cpu", "max",
		"-m", o.Memory,
		"-smp", strconv.Itoa(o.CPUs),
		"-nographic",
		"-serial", "stdio",
		"-drive", "if=pflash,format=raw,readonly=on,file=" + escapeOpt(code),
		"-drive", "if=pflash,format=raw,file=" + escapeOpt(vars),
	}
	drive := func(iface string) string {
		return "file=" + escapeOpt(o.Disk) + "," + iface + ",format=" + o.Format + ",snapshot=on"
	}
	switch o.Bus {
	case "nvme":
		args = append(args, "-drive", drive("if=none,id=disk0"), "-device", "nvme,drive=disk0,serial=strata0")
	case "scsi":
		args = append(args, "-device", "virtio-scsi-pci,id=scsi0",
			"-drive", drive("if=none,id=disk0"), "-device", "scsi-hd,bus=scsi0.0,drive=disk0")
	default:
		args = append(args, "-drive", drive("if=virtio"))
	}
	for _, d := range o.ReadOnlyDrives {
		args = append(args, "-drive", "file="+escapeOpt(d)+",if=virtio,format=raw,readonly=on")
	}
	if o.Network {
		args = append(args, "-netdev", "user,id=net0,restrict=on", "-device", "virtio-net-pci,netdev=net0,romfile=")
	} else {
		args = append(args, "-nic", "none")
	}
	// A reboot or crash loop would otherwise run until the timeout.
	return append(args, "-no-reboot")
}

// escapeOpt escapes a value inside a QEMU option list, where a comma
// separates options and a doubled comma stands for a literal one.
func escapeOpt(s string) string {
	return strings.ReplaceAll(s, ",", ",,")
}

// stopReason is why Boot stopped waiting.
type stopReason int

const (
	stopConsole stopReason = iota // all Expect seen, or a Fail pattern
	stopExited                    // QEMU exited by itself
	stopTimeout
	stopStalled
	stopCancelled
)

// ErrStalled is what a boot that stopped on StallTimeout wraps.
var ErrStalled = errors.New("the guest's console went silent")

// Boot starts QEMU on opts.Disk and watches the serial console until every
// Expect pattern has appeared, a Fail pattern appears, QEMU exits, the
// timeout passes or ctx is cancelled. QEMU is killed and reaped before Boot
// returns, whatever the outcome.
//
// The Result is non-nil whenever QEMU was started, also alongside an error.
// The error then names the missing patterns or the failure seen, the
// console log file and the last 150 lines of the console.
func Boot(ctx context.Context, opts Options) (*Result, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("qemu: %w", err)
	}
	if _, err := os.Stat(o.Disk); err != nil {
		return nil, fmt.Errorf("qemu: disk: %w", err)
	}
	fw := o.Firmware
	if fw == (Firmware{}) {
		if fw, err = FindFirmware(); err != nil {
			return nil, fmt.Errorf("qemu: %w", err)
		}
	}

	var why string
	if o.Accel == AccelAuto {
		if o.Accel, why, err = ChooseAccel(ctx, o.Accel, o.QEMU, fw); err != nil {
			return nil, fmt.Errorf("qemu: %w", err)
		}
	}

	work, err := os.MkdirTemp("", "strata-qemu-")
	if err != nil {
		return nil, fmt.Errorf("qemu: %w", err)
	}
	defer os.RemoveAll(work)
	// UEFI writes boot entries into its variable store; a private copy keeps
	// runs independent and the installed template untouched.
	vars := filepath.Join(work, "OVMF_VARS.fd")
	if err := copyFile(fw.Vars, vars); err != nil {
		return nil, fmt.Errorf("qemu: copy firmware variables: %w", err)
	}

	logPath, keepLog := o.ConsoleLog, true
	var logFile *os.File
	if logPath == "" {
		logFile, err = os.CreateTemp("", "strata-console-*.log")
		keepLog = false
	} else {
		logFile, err = os.Create(logPath)
	}
	if err != nil {
		return nil, fmt.Errorf("qemu: console log: %w", err)
	}
	logPath = logFile.Name()

	// QEMU runs in the scratch directory, so that a core dump of one that
	// aborts (as under a broken KVM) goes with it; the paths it is given
	// must not be relative then. (The drives are the caller's slice.)
	o.ReadOnlyDrives = slices.Clone(o.ReadOnlyDrives)
	for _, p := range append([]*string{&o.Disk, &fw.Code}, ptrs(o.ReadOnlyDrives)...) {
		if *p, err = filepath.Abs(*p); err != nil {
			return nil, fmt.Errorf("qemu: %w", err)
		}
	}
	cmd := exec.Command(cmp.Or(o.QEMU, qemuBinary), o.args(fw.Code, vars)...)
	cmd.Dir = work
	res, err := run(ctx, o, cmd, logFile)
	if res != nil {
		res.Accel, res.AccelWhy = o.Accel, why
	}
	if cerr := logFile.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("qemu: console log: %w", cerr)
	}
	if err != nil {
		if res != nil {
			err = fmt.Errorf("%w\nconsole log: %s\n--- last %d console lines ---\n%s", err, logPath, consoleTailLines, tail(res.Console, consoleTailLines))
		}
		return res, err
	}
	if !keepLog {
		os.Remove(logPath)
	}
	return res, nil
}

// run starts cmd and supervises it until a verdict. Its own process group
// lets one signal take down QEMU together with anything it spawned.
func run(ctx context.Context, o Options, cmd *exec.Cmd, logFile *os.File) (*Result, error) {
	// Both outputs are plain pipes rather than writers: with a writer,
	// Wait would also wait for anything QEMU spawned to close its copy.
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("qemu: %w", err)
	}
	defer pr.Close()
	epr, epw, err := os.Pipe()
	if err != nil {
		pw.Close()
		return nil, fmt.Errorf("qemu: %w", err)
	}
	defer epr.Close()
	stderr := &tailBuffer{max: 8 << 10}
	cmd.Stdin = nil
	cmd.Stdout = pw
	cmd.Stderr = epw
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid: true,
		// If the test binary itself dies, the kernel still stops QEMU.
		// (The signal follows the exit of the OS thread that started
		// QEMU; Go only ends threads of goroutines that exit while
		// locked to one, which this package never does.)
		Pdeathsig: syscall.SIGKILL,
	}

	m := newMatcher(o.Expect, o.Fail)
	var mu sync.Mutex // guards m while the reader runs
	start := time.Now()
	err = cmd.Start()
	pw.Close()
	epw.Close()
	if err != nil {
		return nil, fmt.Errorf("qemu: start %s: %w", cmd.Path, err)
	}
	stderrDone := make(chan struct{})
	go func() {
		io.Copy(stderr, epr)
		close(stderrDone)
	}()

	// The reader copies the console and reports a verdict on the console
	// as soon as there is one.
	verdict := make(chan struct{})
	readDone := make(chan error, 1)
	// stall fires after StallTimeout without console output; the reader
	// pushes it back with every read.
	stall := time.NewTimer(o.StallTimeout)
	defer stall.Stop()
	if o.StallTimeout == 0 {
		stall.Stop()
	}
	go func() {
		var werr error
		signalled := false
		buf := make([]byte, 32<<10)
		for {
			n, rerr := pr.Read(buf)
			if n > 0 {
				if o.StallTimeout > 0 {
					stall.Reset(o.StallTimeout)
				}
				at := time.Since(start)
				if _, err := logFile.Write(buf[:n]); err != nil && werr == nil {
					werr = fmt.Errorf("qemu: console log: %w", err)
				}
				mu.Lock()
				text := m.feed(buf[:n], at)
				decided := m.done() || m.failed != ""
				mu.Unlock()
				if o.Stdout != nil && len(text) > 0 {
					o.Stdout.Write(text)
				}
				if decided && !signalled {
					signalled = true
					close(verdict)
				}
			}
			if rerr != nil {
				readDone <- werr
				return
			}
		}
	}()

	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	timer := time.NewTimer(o.Timeout)
	defer timer.Stop()
	var (
		reason        stopReason
		waitErr       error
		exitedAlready bool
	)
	select {
	case <-verdict:
		reason = stopConsole
	case waitErr = <-exited:
		reason, exitedAlready = stopExited, true
	case <-timer.C:
		reason = stopTimeout
	case <-stall.C:
		reason = stopStalled
	case <-ctx.Done():
		reason = stopCancelled
	}
	// Also after QEMU exited by itself: anything it left running in its
	// group goes too. The group id cannot have been reused while a member
	// is alive, and without members the call fails harmlessly.
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if !exitedAlready {
		waitErr = <-exited
	}
	duration := time.Since(start)

	// QEMU is gone, so the pipe reaches EOF unless a stray child still
	// holds it; do not hang on that.
	var werr error
	drain := time.NewTimer(5 * time.Second)
	defer drain.Stop()
	for consoleOpen, stderrOpen := readDone, stderrDone; consoleOpen != nil || stderrOpen != nil; {
		select {
		case werr = <-consoleOpen:
			consoleOpen = nil
		case <-stderrOpen:
			stderrOpen = nil
		case <-drain.C:
			// Closing our ends ends both readers.
			pr.Close()
			epr.Close()
		}
	}

	mu.Lock()
	defer mu.Unlock()
	res := &Result{Duration: duration, Console: string(m.text), Matched: make(map[string]time.Duration, len(m.matched))}
	for k, v := range m.matched {
		res.Matched[k] = v
	}

	// The console decides first: output that raced with an exit or the
	// timer still counts.
	switch {
	case m.failed != "":
		return res, fmt.Errorf("qemu: console shows failure %q after %s", m.failed, m.failedAt.Round(time.Millisecond))
	case m.done():
		return res, werr
	}
	missing := "QEMU to exit"
	if len(o.Expect) > 0 {
		missing = fmt.Sprintf("%q", m.missing())
	}
	switch reason {
	case stopExited:
		if len(o.Expect) == 0 && waitErr == nil {
			return res, werr
		}
		return res, fmt.Errorf("qemu: exited (%v) after %s waiting for %s%s", exitStatus(waitErr), duration.Round(time.Second), missing, stderr.describe())
	case stopTimeout:
		return res, fmt.Errorf("qemu: timed out after %s waiting for %s%s", o.Timeout, missing, stderr.describe())
	case stopStalled:
		return res, fmt.Errorf("qemu: no console output for %s, %s into the boot, waiting for %s: %w%s",
			o.StallTimeout, duration.Round(time.Second), missing, ErrStalled, stderr.describe())
	default:
		return res, fmt.Errorf("qemu: stopped after %s waiting for %s: %w", duration.Round(time.Second), missing, ctx.Err())
	}
}

// ptrs points at each element of s.
func ptrs(s []string) []*string {
	p := make([]*string, len(s))
	for i := range s {
		p[i] = &s[i]
	}
	return p
}

// exitStatus describes how QEMU ended.
func exitStatus(err error) string {
	if err == nil {
		return "status 0"
	}
	return err.Error()
}

// tailBuffer keeps the last max bytes written to it: QEMU's stderr, which is
// short unless something loops.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// describe formats the captured stderr for an error message.
func (t *tailBuffer) describe() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(string(t.buf))
	if s == "" {
		return ""
	}
	return "\nqemu stderr:\n" + s
}
