package boottest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestArgs(t *testing.T) {
	o, err := Options{Disk: "/images/a,b.raw"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	args := o.args("/fw/CODE.fd", "/tmp/x/VARS.fd")
	line := strings.Join(args, " ")
	for _, want := range []string{
		"-accel tcg",
		"-machine q35",
		"-cpu max",
		"-m 2048",
		"-smp 2",
		"-nographic",
		"-serial stdio",
		"-drive if=pflash,format=raw,readonly=on,file=/fw/CODE.fd",
		"-drive if=pflash,format=raw,file=/tmp/x/VARS.fd",
		// The comma in the path is doubled, or QEMU would read "b.raw"
		// as an option.
		"-drive file=/images/a,,b.raw,if=virtio,format=raw,snapshot=on",
		"-nic none",
		"-no-reboot",
	} {
		if !strings.Contains(line, want) {
			t.Errorf("command line lacks %q:\n%s", want, line)
		}
	}
	if slices.Contains(args, "-enable-kvm") || strings.Contains(line, "kvm") {
		t.Errorf("command line asks for KVM:\n%s", line)
	}

	o, err = Options{Disk: "d.qcow2", Format: "qcow2", Memory: "4G", CPUs: 1}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	line = strings.Join(o.args("c", "v"), " ")
	for _, want := range []string{"-m 4G", "-smp 1", "file=d.qcow2,if=virtio,format=qcow2,snapshot=on"} {
		if !strings.Contains(line, want) {
			t.Errorf("command line lacks %q:\n%s", want, line)
		}
	}
}

func TestWithDefaults(t *testing.T) {
	o, err := Options{Disk: "d"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if o.Format != "raw" || o.Memory != "2048" || o.CPUs != 2 || o.Timeout != 10*time.Minute {
		t.Errorf("defaults: %+v", o)
	}
	for name, bad := range map[string]Options{
		"no disk":       {},
		"format":        {Disk: "d", Format: "vdi"},
		"cpus":          {Disk: "d", CPUs: -1},
		"empty expect":  {Disk: "d", Expect: []string{"ok", ""}},
		"empty failure": {Disk: "d", Fail: []string{""}},
	} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("%s: accepted %+v", name, bad)
		}
	}
}

func TestFindFirmwareMissing(t *testing.T) {
	saved := firmwareCandidates
	t.Cleanup(func() { firmwareCandidates = saved })
	firmwareCandidates = []Firmware{{Code: "/nonexistent/CODE.fd", Vars: "/nonexistent/VARS.fd"}}
	_, err := FindFirmware()
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/CODE.fd") || !strings.Contains(err.Error(), "ovmf") {
		t.Errorf("FindFirmware error = %v", err)
	}
}

// fakeQEMU is a stand-in for qemu-system-x86_64 that prints a scripted
// console and then idles. It records its own pid and that of a child it
// starts, so tests can check that Boot leaves nothing running.
const fakeQEMU = `#!/bin/sh
echo $$ >> "$FAKE_QEMU_PIDS"
[ -z "$FAKE_QEMU_ARGS" ] || echo "$*" >> "$FAKE_QEMU_ARGS"
case " $* " in
*" -accel kvm "*)
	# As on a host whose KVM cannot run guests, or one where it works.
	case "$FAKE_KVM" in
	works) printf 'UEFI Interactive Shell v2.2\r\nShell> ' ;;
	*) echo 'qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69' >&2; exit 134 ;;
	esac
	sleep 300
	;;
esac
sleep 300 &
echo $! >> "$FAKE_QEMU_PIDS"
printf '\033[2J\033[01;01HBdsDxe: starting Boot0001\r\n'
case "$FAKE_QEMU_MODE" in
expect)
	printf 'Linux ver'
	sleep 0.2
	printf 'sion 6.1.0\r\n[\033[0;32m  OK  \033[0m] Reached target \033[1mMulti-User System\033[0m.\r\n'
	;;
fail)
	printf 'Kernel panic - not syncing: VFS\r\n'
	;;
exit0)
	printf 'reboot: Power down\r\n'
	exit 0
	;;
escape)
	# A child in its own session is out of reach of the group kill and
	# keeps the console pipe open.
	setsid sleep 300 &
	echo $! > "$FAKE_QEMU_ESCAPED"
	while [ "$(ps -o sid= -p $! | tr -d ' ')" != "$!" ]; do sleep 0.05; done
	printf 'login: '
	;;
exit1)
	echo 'qemu-system-x86_64: -drive file=x: Could not open' >&2
	exit 1
	;;
esac
sleep 300
`

// useFakeQEMU installs fakeQEMU for one test and returns options for it and
// the file the fake writes its pids to.
func useFakeQEMU(t *testing.T, mode string) (Options, string) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "fake-qemu")
	if err := os.WriteFile(bin, []byte(fakeQEMU), 0o755); err != nil {
		t.Fatal(err)
	}
	saved := qemuBinary
	qemuBinary = bin
	t.Cleanup(func() { qemuBinary = saved })

	pids := filepath.Join(dir, "pids")
	t.Setenv("FAKE_QEMU_PIDS", pids)
	t.Setenv("FAKE_QEMU_MODE", mode)
	for _, f := range []string{"disk.raw", "CODE.fd", "VARS.fd"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return Options{
		Disk:       filepath.Join(dir, "disk.raw"),
		Firmware:   Firmware{Code: filepath.Join(dir, "CODE.fd"), Vars: filepath.Join(dir, "VARS.fd")},
		ConsoleLog: filepath.Join(dir, "console.log"),
		Timeout:    time.Minute,
	}, pids
}

// assertGone fails the test if any process listed in pidFile still runs.
func assertGone(t *testing.T, pidFile string) {
	t.Helper()
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("fake QEMU did not record its pids: %v", err)
	}
	for _, f := range strings.Fields(string(data)) {
		pid, _ := strconv.Atoi(f)
		if !waitGone(pid, 3*time.Second) {
			t.Errorf("process %d left running", pid)
		}
	}
}

// waitGone reports whether pid has exited (or is a zombie awaiting its
// reaper) within d.
func waitGone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return true
		}
		// The state follows the parenthesised command name.
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestBootExpect(t *testing.T) {
	opts, pids := useFakeQEMU(t, "expect")
	opts.Expect = []string{"Reached target Multi-User System", "Linux version 6.1"}
	opts.Fail = BootFailures
	var live bytes.Buffer
	opts.Stdout = &live

	start := time.Now()
	res, err := Boot(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	// The fake idles for minutes after its output; stopping early proves
	// Boot acted on the match.
	if time.Since(start) > 20*time.Second {
		t.Errorf("Boot took %s after the console matched", time.Since(start))
	}
	if len(res.Matched) != 2 {
		t.Errorf("Matched = %v", res.Matched)
	}
	if d := res.Matched["Linux version 6.1"]; d < 200*time.Millisecond || d > res.Duration {
		t.Errorf("pattern split by a pause matched at %s (boot %s)", d, res.Duration)
	}
	if !strings.Contains(res.Console, "[  OK  ] Reached target Multi-User System.\n") {
		t.Errorf("Console not cleaned:\n%q", res.Console)
	}
	if live.String() != res.Console {
		t.Errorf("live copy %q differs from Console %q", live.String(), res.Console)
	}
	raw, err := os.ReadFile(opts.ConsoleLog)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte("\033[1mMulti-User")) {
		t.Errorf("console log is not the raw console:\n%q", raw)
	}
	assertGone(t, pids)
}

func TestBootFail(t *testing.T) {
	opts, pids := useFakeQEMU(t, "fail")
	opts.Expect = []string{"login:"}
	opts.Fail = BootFailures
	res, err := Boot(context.Background(), opts)
	if err == nil {
		t.Fatal("Boot succeeded on a kernel panic")
	}
	for _, want := range []string{`failure "Kernel panic"`, "console log: " + opts.ConsoleLog, "last 150 console lines", "BdsDxe: starting Boot0001\nKernel panic - not syncing: VFS"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if res == nil || !strings.Contains(res.Console, "Kernel panic") {
		t.Errorf("Result missing or without console: %+v", res)
	}
	assertGone(t, pids)
}

func TestBootTimeout(t *testing.T) {
	opts, pids := useFakeQEMU(t, "hang")
	opts.Expect = []string{"login:"}
	opts.Timeout = 500 * time.Millisecond
	_, err := Boot(context.Background(), opts)
	if err == nil || !strings.Contains(err.Error(), `timed out after 500ms waiting for ["login:"]`) {
		t.Fatalf("error = %v", err)
	}
	assertGone(t, pids)
}

// TestBootStall: a console silent for StallTimeout ends the boot with
// ErrStalled, long before the timeout; output keeps it going.
func TestBootStall(t *testing.T) {
	opts, pids := useFakeQEMU(t, "hang")
	opts.Expect = []string{"login:"}
	opts.StallTimeout = 500 * time.Millisecond
	_, err := Boot(context.Background(), opts)
	if !errors.Is(err, ErrStalled) || !strings.Contains(err.Error(), `no console output for 500ms`) {
		t.Fatalf("error = %v, want one wrapping ErrStalled", err)
	}
	assertGone(t, pids)

	opts, pids = useFakeQEMU(t, "expect")
	opts.Expect = []string{"Multi-User System"}
	opts.StallTimeout = 150 * time.Millisecond // the fake pauses 200 ms mid-line
	if _, err := Boot(context.Background(), opts); !errors.Is(err, ErrStalled) {
		t.Fatalf("error = %v, want a stall during the fake's pause", err)
	}
	assertGone(t, pids)
	opts, pids = useFakeQEMU(t, "expect")
	opts.Expect = []string{"Multi-User System"}
	opts.StallTimeout = 2 * time.Second
	if _, err := Boot(context.Background(), opts); err != nil {
		t.Fatalf("a boot whose console pauses less than StallTimeout failed: %v", err)
	}
	assertGone(t, pids)
}

func TestBootCancel(t *testing.T) {
	opts, pids := useFakeQEMU(t, "hang")
	opts.Expect = []string{"login:"}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := Boot(ctx, opts)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %v, want one wrapping context.DeadlineExceeded", err)
	}
	assertGone(t, pids)
}

func TestBootExit(t *testing.T) {
	t.Run("early exit is an error", func(t *testing.T) {
		opts, pids := useFakeQEMU(t, "exit1")
		opts.Expect = []string{"login:"}
		_, err := Boot(context.Background(), opts)
		if err == nil || !strings.Contains(err.Error(), "exit status 1") || !strings.Contains(err.Error(), "Could not open") {
			t.Fatalf("error = %v, want exit status and QEMU's stderr", err)
		}
		assertGone(t, pids)
	})
	t.Run("clean exit without Expect succeeds", func(t *testing.T) {
		opts, pids := useFakeQEMU(t, "exit0")
		res, err := Boot(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(res.Console, "reboot: Power down") {
			t.Errorf("Console = %q", res.Console)
		}
		// The fake's background child holds the console pipe open; it
		// must be killed with the group, not waited for.
		if res.Duration > 3*time.Second {
			t.Errorf("Boot took %s after QEMU exited", res.Duration)
		}
		assertGone(t, pids)
	})
}

func TestBootStrayChild(t *testing.T) {
	opts, pids := useFakeQEMU(t, "escape")
	escaped := filepath.Join(t.TempDir(), "escaped")
	t.Setenv("FAKE_QEMU_ESCAPED", escaped)
	t.Cleanup(func() {
		if data, err := os.ReadFile(escaped); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	opts.Expect = []string{"login:"}
	start := time.Now()
	res, err := Boot(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := res.Matched["login:"]; !ok {
		t.Errorf("Matched = %v", res.Matched)
	}
	// Boot gives up on the pipe after a grace period instead of hanging.
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("Boot took %s", d)
	}
	assertGone(t, pids)
}

func TestBootDefaultConsoleLog(t *testing.T) {
	opts, pids := useFakeQEMU(t, "fail")
	opts.ConsoleLog = ""
	opts.Fail = BootFailures
	_, err := Boot(context.Background(), opts)
	if err == nil {
		t.Fatal("Boot succeeded on a kernel panic")
	}
	// A failed boot keeps its log and names it.
	_, after, ok := strings.Cut(err.Error(), "console log: ")
	if !ok {
		t.Fatalf("error does not name the console log: %v", err)
	}
	logPath, _, _ := strings.Cut(after, "\n")
	t.Cleanup(func() { os.Remove(logPath) })
	if data, err := os.ReadFile(logPath); err != nil || !bytes.Contains(data, []byte("Kernel panic")) {
		t.Errorf("console log %s: %v, %q", logPath, err, data)
	}
	assertGone(t, pids)
}

func TestBootMissingDisk(t *testing.T) {
	_, err := Boot(context.Background(), Options{Disk: filepath.Join(t.TempDir(), "none.raw")})
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("error = %v, want ErrNotExist", err)
	}
}

func TestArgsNetwork(t *testing.T) {
	o := Options{Disk: "/d.raw", Format: "raw", Memory: "2048", CPUs: 2, Network: true}
	line := strings.Join(o.args("/c", "/v"), " ")
	if !strings.Contains(line, "-netdev user,id=net0,restrict=on -device virtio-net-pci,netdev=net0,romfile=") || strings.Contains(line, "-nic none") {
		t.Errorf("Network: command line lacks a restricted NIC:\n%s", line)
	}
}

func TestArgsNVMe(t *testing.T) {
	o, err := Options{Disk: "/d.vmdk", Format: "vmdk", Bus: "nvme"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Join(o.args("/c", "/v"), " ")
	if !strings.Contains(line, "-drive file=/d.vmdk,if=none,id=disk0,format=vmdk,snapshot=on -device nvme,drive=disk0,serial=strata0") || strings.Contains(line, "if=virtio") {
		t.Errorf("Bus nvme: command line lacks the NVMe controller:\n%s", line)
	}
	if _, err := (Options{Disk: "/d.raw", Bus: "ide"}).withDefaults(); err == nil {
		t.Error("Bus ide was accepted")
	}
}

func TestArgsSCSI(t *testing.T) {
	o, err := Options{Disk: "/d.raw", Bus: "scsi"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Join(o.args("/c", "/v"), " ")
	want := "-device virtio-scsi-pci,id=scsi0 -drive file=/d.raw,if=none,id=disk0,format=raw,snapshot=on -device scsi-hd,bus=scsi0.0,drive=disk0"
	if !strings.Contains(line, want) || strings.Contains(line, "if=virtio") {
		t.Errorf("Bus scsi: command line lacks %q:\n%s", want, line)
	}
}

// TestBootRelativePaths: QEMU runs in a scratch directory, so Boot hands
// it absolute paths, and leaves the caller's options as they were.
func TestBootRelativePaths(t *testing.T) {
	opts, pids := useFakeQEMU(t, "expect")
	argsFile := filepath.Join(t.TempDir(), "args")
	t.Setenv("FAKE_QEMU_ARGS", argsFile)
	dir := filepath.Dir(opts.Disk)
	t.Chdir(dir)
	opts.Disk = "disk.raw"
	drives := []string{"CODE.fd"}
	opts.ReadOnlyDrives = drives
	opts.Expect = []string{"Multi-User System"}
	if _, err := Boot(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(argsFile)
	for _, want := range []string{"file=" + filepath.Join(dir, "disk.raw") + ",", "file=" + filepath.Join(dir, "CODE.fd") + ",if=virtio"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("QEMU's arguments lack %q:\n%s", want, data)
		}
	}
	if drives[0] != "CODE.fd" {
		t.Errorf("Boot changed the caller's ReadOnlyDrives to %q", drives)
	}
	assertGone(t, pids)
}
