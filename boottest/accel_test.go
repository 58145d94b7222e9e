package boottest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeKVM points kvmDevice at a file that opens read-write, as /dev/kvm
// does for a user allowed to use it, and says how the fake QEMU behaves
// under -accel kvm.
func fakeKVM(t *testing.T, behaviour string) {
	t.Helper()
	dev := filepath.Join(t.TempDir(), "kvm")
	if err := os.WriteFile(dev, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	saved := kvmDevice
	kvmDevice = dev
	t.Cleanup(func() { kvmDevice = saved })
	t.Setenv("FAKE_KVM", behaviour)
}

func TestArgsAccel(t *testing.T) {
	for accel, want := range map[string]string{"": "-accel tcg", "tcg": "-accel tcg", "kvm": "-accel kvm"} {
		o, err := Options{Disk: "/d.raw", Accel: accel}.withDefaults()
		if err != nil {
			t.Fatal(err)
		}
		if line := strings.Join(o.args("/c", "/v"), " "); !strings.Contains(line, want) {
			t.Errorf("Accel %q: command line lacks %q:\n%s", accel, want, line)
		}
	}
	if _, err := (Options{Disk: "/d.raw", Accel: "hvf"}).withDefaults(); err == nil {
		t.Error("Accel hvf was accepted")
	}
}

func TestChooseAccelExplicit(t *testing.T) {
	// Explicit choices run no probe: an unusable /dev/kvm does not matter.
	saved := kvmDevice
	kvmDevice = "/nonexistent/kvm"
	t.Cleanup(func() { kvmDevice = saved })
	for in, want := range map[string]string{"": "tcg", "tcg": "tcg", "kvm": "kvm"} {
		got, why, err := ChooseAccel(context.Background(), in, "", Firmware{})
		if err != nil || got != want || why != "" {
			t.Errorf("ChooseAccel(%q) = %q, %q, %v; want %q", in, got, why, err, want)
		}
	}
	if _, _, err := ChooseAccel(context.Background(), "whpx", "", Firmware{}); err == nil || !strings.Contains(err.Error(), "tcg, kvm, auto") {
		t.Errorf("ChooseAccel(whpx) error = %v", err)
	}
}

func TestProbeKVMNoDevice(t *testing.T) {
	opts, _ := useFakeQEMU(t, "hang")
	saved := kvmDevice
	kvmDevice = filepath.Join(t.TempDir(), "missing")
	t.Cleanup(func() { kvmDevice = saved })
	err := ProbeKVM(context.Background(), "", opts.Firmware)
	if err == nil || !strings.Contains(err.Error(), "cannot open "+kvmDevice+" read-write") {
		t.Fatalf("ProbeKVM error = %v", err)
	}
	got, why, err := ChooseAccel(context.Background(), "auto", "", opts.Firmware)
	if err != nil || got != "tcg" || !strings.Contains(why, "cannot open") {
		t.Errorf("ChooseAccel(auto) = %q, %q, %v; want tcg and the reason", got, why, err)
	}
}

// TestProbeKVMBroken: /dev/kvm opens, but QEMU cannot run a guest under
// it, as on the machine this was written on.
func TestProbeKVMBroken(t *testing.T) {
	opts, pids := useFakeQEMU(t, "hang")
	fakeKVM(t, "broken")
	err := ProbeKVM(context.Background(), "", opts.Firmware)
	if err == nil || !strings.Contains(err.Error(), "failed to set MSR 0x10a") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("ProbeKVM error = %v, want one line with QEMU's stderr", err)
	}
	assertGone(t, pids)
}

func TestBootAutoAccel(t *testing.T) {
	for _, tt := range []struct{ kvm, want, why, expect string }{
		// The fake prints OVMF's shell under KVM, a Linux boot under TCG.
		{"works", "kvm", "KVM works", "Shell>"},
		{"broken", "tcg", "KVM unusable, using TCG: OVMF under KVM did not reach its shell", "Multi-User System"},
	} {
		t.Run(tt.kvm, func(t *testing.T) {
			opts, pids := useFakeQEMU(t, "expect")
			fakeKVM(t, tt.kvm)
			argsFile := filepath.Join(t.TempDir(), "args")
			t.Setenv("FAKE_QEMU_ARGS", argsFile)
			opts.Accel = "auto"
			opts.Expect = []string{tt.expect}
			res, err := Boot(context.Background(), opts)
			if err != nil {
				t.Fatal(err)
			}
			if res.Accel != tt.want || !strings.Contains(res.AccelWhy, tt.why) {
				t.Fatalf("Result %+v, want Accel %q and a reason with %q (err %v)", res, tt.want, tt.why, err)
			}
			data, _ := os.ReadFile(argsFile)
			runs := strings.Split(strings.TrimSpace(string(data)), "\n")
			if len(runs) != 2 || !strings.Contains(runs[0], "-accel kvm") || !strings.Contains(runs[1], "-accel "+tt.want) {
				t.Errorf("QEMU runs:\n%s\nwant the probe under KVM, then the boot under %s", data, tt.want)
			}
			assertGone(t, pids)
		})
	}
}
