package e2e

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/strata-dev/strata/boottest"
)

// TestExampleDiskBoots boots the example disk under QEMU (TCG, OVMF) and
// waits for systemd to reach multi-user.target and for the spec's marker
// unit to print its line.
func TestExampleDiskBoots(t *testing.T) {
	requireE2E(t)
	disk, err := exampleDisk()
	if err != nil {
		t.Fatal(err)
	}
	bootAndExpect(t, disk, "example-console.log", []string{
		"Linux version",        // the kernel started
		"Multi-User System",    // systemd reached multi-user.target
		"strata-ready: booted", // the spec's marker unit ran
	}, nil)
}

// bootAndExpect boots disk under QEMU until every expected line is on the
// console. TCG emulation is slow: the budget is minutes.
func bootAndExpect(t *testing.T, disk, logName string, expect, fail []string) {
	t.Helper()
	bootImageAndExpect(t, disk, "raw", logName, expect, fail)
}

// bootImageAndExpect is bootAndExpect for an image in a QEMU block format
// other than raw ("qcow2", "vpc", "vmdk").
func bootImageAndExpect(t *testing.T, disk, format, logName string, expect, fail []string) {
	t.Helper()
	bootWith(t, boottest.Options{Disk: disk, Format: format}, logName, expect, fail)
}

// bootWith boots under QEMU with o's disk, format and bus, a restricted
// NIC and the harness's budget and failure patterns. A guest that stalls (its console silent for bootStall, which under TCG
// happens now and then early in the kernel's boot, e.g. right after
// "Switched to clocksource hpet") is booted once more; a second stall fails.
func bootWith(t *testing.T, o boottest.Options, logName string, expect, fail []string) {
	t.Helper()
	bootWithin(t, o, 12*time.Minute, logName, expect, fail)
}

// bootWithin is bootWith for a boot that may take up to timeout.
func bootWithin(t *testing.T, o boottest.Options, timeout time.Duration, logName string, expect, fail []string) {
	t.Helper()
	consoleLog := filepath.Join(env.workDir, logName)
	o.Network = true
	o.Timeout = timeout
	o.StallTimeout = bootStall
	o.ConsoleLog = consoleLog
	o.Expect = expect
	o.Fail = append([]string{"Kernel panic", "emergency mode", "Failed to mount"}, fail...)
	res, err := bootOnce(o)
	if errors.Is(err, boottest.ErrStalled) {
		stalled := consoleLog + ".stalled"
		os.Rename(consoleLog, stalled)
		t.Logf("boot stalled, booting once more (the first console: %s): %v", stalled, err)
		res, err = bootOnce(o)
	}
	if err != nil {
		// The runner's error carries the console tail; keep the whole log too.
		if dst := os.Getenv("STRATA_E2E_ARTIFACTS"); dst != "" {
			copyConsole(consoleLog, filepath.Join(dst, logName))
		}
		t.Fatalf("boot failed: %v", err)
	}
	t.Logf("booted in %s; %v", res.Duration.Round(time.Second), res.Matched)
}

// bootStall is far longer than any quiet stretch of a healthy boot here:
// whole boots take under two minutes.
const bootStall = 4 * time.Minute

func bootOnce(o boottest.Options) (*boottest.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	return boottest.Boot(ctx, o)
}

func copyConsole(src, dst string) {
	if dt, err := os.ReadFile(src); err == nil {
		os.MkdirAll(filepath.Dir(dst), 0o755)
		os.WriteFile(dst, dt, 0o644)
	}
}
