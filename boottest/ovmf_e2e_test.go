package boottest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ovmfExpect is what OVMF prints on the serial console when it finds
// nothing to boot on the virtio disk and falls back to its built-in shell:
// the disk's boot entry proves the disk was attached as virtio, the shell
// prompt proves the console is read to the end.
var ovmfExpect = []string{
	`BdsDxe: failed to load Boot0001 "UEFI Misc Device"`,
	"UEFI Interactive Shell",
	"Shell>",
}

// TestBootEmptyDiskOVMF boots real QEMU with an empty disk. It proves
// firmware discovery, the command line and console capture without a
// bootable image. Slow (TCG), so it runs only with STRATA_E2E=1.
func TestBootEmptyDiskOVMF(t *testing.T) {
	if os.Getenv("STRATA_E2E") != "1" {
		t.Skip("set STRATA_E2E=1 to boot QEMU")
	}
	if _, err := exec.LookPath(qemuBinary); err != nil {
		t.Fatalf("STRATA_E2E=1 but %s is missing: %v", qemuBinary, err)
	}

	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Fatalf("STRATA_E2E=1 but qemu-img is missing: %v", err)
	}
	for _, format := range []string{"raw", "qcow2"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			disk := filepath.Join(dir, "empty."+format)
			if format == "raw" {
				if err := os.WriteFile(disk, nil, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Truncate(disk, 64<<20); err != nil {
					t.Fatal(err)
				}
			} else if out, err := exec.Command("qemu-img", "create", "-f", format, disk, "64M").CombinedOutput(); err != nil {
				t.Fatalf("qemu-img create: %v\n%s", err, out)
			}
			before, err := os.ReadFile(disk)
			if err != nil {
				t.Fatal(err)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			res, err := Boot(ctx, Options{
				Disk:       disk,
				Format:     format,
				Timeout:    4 * time.Minute,
				ConsoleLog: filepath.Join(dir, "console.log"),
				Expect:     ovmfExpect,
				// An edk2 assertion is the firmware itself failing.
				Fail: []string{"ASSERT"},
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: OVMF reached its shell in %s; first match after %s", format, res.Duration.Round(time.Millisecond), res.Matched[ovmfExpect[0]].Round(time.Millisecond))

			// The disk was opened with snapshot=on.
			after, err := os.ReadFile(disk)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before, after) {
				t.Error("the disk changed during the boot")
			}
			if pids := processesMentioning(t, disk); len(pids) > 0 {
				t.Errorf("QEMU processes left running: %v", pids)
			}
		})
	}
}

// processesMentioning lists the pids whose command line contains s, waiting
// briefly for any to disappear.
func processesMentioning(t *testing.T, s string) []string {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		var found []string
		dirs, err := filepath.Glob("/proc/[0-9]*")
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range dirs {
			cmdline, err := os.ReadFile(filepath.Join(d, "cmdline"))
			// Zombies have an empty command line and are no longer running.
			if err == nil && strings.Contains(string(cmdline), s) {
				found = append(found, filepath.Base(d))
			}
		}
		if len(found) == 0 || time.Now().After(deadline) {
			return found
		}
		time.Sleep(50 * time.Millisecond)
	}
}
