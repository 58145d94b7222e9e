package boottest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The accelerators Options.Accel names.
const (
	// AccelTCG is QEMU's software emulation: slow, and the same everywhere.
	AccelTCG = "tcg"
	// AccelKVM is hardware virtualisation through /dev/kvm.
	AccelKVM = "kvm"
	// AccelAuto is KVM when ProbeKVM says it works, else TCG.
	AccelAuto = "auto"
)

// accels are the values Options.Accel takes.
var accels = []string{AccelTCG, AccelKVM, AccelAuto}

// kvmDevice is what KVM is opened through; tests point it elsewhere.
var kvmDevice = "/dev/kvm"

// probeExpect is what OVMF prints once its boot manager has found nothing
// on an empty disk and started its built-in shell: the firmware ran its
// whole start-up and loaded an EFI application. Under TCG it appears
// within 4 s here; under working KVM in a fraction of that.
const probeExpect = "UEFI Interactive Shell"

// probeTimeout bounds the probe. It is far above what OVMF needs under
// KVM, and short next to a boot, which TCG takes minutes for.
const probeTimeout = 15 * time.Second

// ProbeKVM reports whether KVM works for the guests Boot starts with the
// emulator qemu (as Options.QEMU: "" is the default one): nil when
// /dev/kvm opens read-write and OVMF, started under KVM with Boot's
// machine and CPU model and an empty disk, reaches its shell within 15 s;
// otherwise an error saying what went wrong.
//
// Opening /dev/kvm is not enough. On a nested or paravirtualised host the
// device can be there while guests cannot run: on the machine this was
// written on (kvm-pvm, nested in an AMD EPYC VM), QEMU aborts at once with
// "-cpu max" or "-cpu host" (it cannot set MSR 0x10a), and with "-cpu
// qemu64" the firmware stops on "KVM internal error" and the guest hangs
// without a console line. Running the firmware catches both.
func ProbeKVM(ctx context.Context, qemu string, fw Firmware) error {
	f, err := os.OpenFile(kvmDevice, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("cannot open %s read-write: %w", kvmDevice, err)
	}
	f.Close()

	dir, err := os.MkdirTemp("", "strata-kvm-probe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	disk := filepath.Join(dir, "empty.raw")
	if err := os.WriteFile(disk, nil, 0o600); err != nil {
		return err
	}
	if err := os.Truncate(disk, 1<<20); err != nil {
		return err
	}
	_, err = Boot(ctx, Options{
		Disk: disk, QEMU: qemu, Accel: AccelKVM, Memory: "256", CPUs: 1, Timeout: probeTimeout,
		Firmware: fw, ConsoleLog: filepath.Join(dir, "console.log"),
		Expect: []string{probeExpect}, Fail: []string{"ASSERT"},
	})
	if err != nil {
		// Boot's error ends with the console tail and the log's name,
		// which is removed with dir: keep the verdict and QEMU's stderr.
		msg, _, _ := strings.Cut(err.Error(), "\nconsole log: ")
		return fmt.Errorf("OVMF under KVM did not reach its shell: %s", oneLine(msg))
	}
	return nil
}

// ChooseAccel resolves an Options.Accel value for the emulator qemu (as
// Options.QEMU) and firmware fw (the zero value: FindFirmware's): "" and
// "tcg" are TCG, "kvm" is KVM without a probe (QEMU fails if it cannot
// use it), and "auto" is KVM if ProbeKVM passes, else TCG. why says what
// decided, for a log line: empty for an explicit choice, the probe's
// outcome for auto.
func ChooseAccel(ctx context.Context, accel, qemu string, fw Firmware) (chosen, why string, err error) {
	switch accel {
	case "", AccelTCG:
		return AccelTCG, "", nil
	case AccelKVM:
		return AccelKVM, "", nil
	case AccelAuto:
	default:
		return "", "", fmt.Errorf("accelerator %q is not one of %s", accel, strings.Join(accels, ", "))
	}
	if fw == (Firmware{}) {
		if fw, err = FindFirmware(); err != nil {
			return "", "", err
		}
	}
	if err := ProbeKVM(ctx, qemu, fw); err != nil {
		if ctx.Err() != nil {
			return "", "", errors.Join(ctx.Err(), err)
		}
		return AccelTCG, "KVM unusable, using TCG: " + err.Error(), nil
	}
	return AccelKVM, "KVM works (OVMF reached its shell under KVM)", nil
}

// oneLine joins a Boot error and the QEMU stderr it carries into one line.
func oneLine(msg string) string {
	msg = strings.Replace(msg, "\nqemu stderr:\n", "; QEMU says: ", 1)
	return strings.ReplaceAll(msg, "\n", "; ")
}
