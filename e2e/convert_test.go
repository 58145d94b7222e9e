package e2e

import (
	"path/filepath"
	"testing"
	"time"
)

// TestConvertedDisksBoot converts the example disk with `strata convert`
// and boots QEMU straight from each converted file, not from the raw disk:
// compressed qcow2, fixed VHD (QEMU's "vpc") and stream-optimized VMDK.
func TestConvertedDisksBoot(t *testing.T) {
	requireE2E(t)
	disk, err := exampleDisk()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ format, file, qemuFormat string }{
		{"qcow2-compressed", "disk.qcow2", "qcow2"},
		{"vhd", "disk.vhd", "vpc"},
		{"vmdk", "disk.vmdk", "vmdk"},
	} {
		t.Run(c.format, func(t *testing.T) {
			out := filepath.Join(env.workDir, "converted-"+c.format)
			if log, err := run(10*time.Minute, env.repo, env.strata, "convert", "--format", c.format, "--seed", "e2e", "-o", out, disk); err != nil {
				t.Fatalf("strata convert: %v\n%s", err, log)
			}
			bootImageAndExpect(t, filepath.Join(out, c.file), c.qemuFormat, "converted-"+c.format+"-console.log", []string{
				"Linux version",
				"Multi-User System",
				"strata-ready: booted",
			}, nil)
		})
	}
}
