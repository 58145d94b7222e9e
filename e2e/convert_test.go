package e2e

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-dev/strata/boottest"
	"github.com/strata-dev/strata/exporters/formats/gce"
	"github.com/strata-dev/strata/exporters/formats/ova"
)

// TestConvertedDisksBoot converts the example disk with `strata convert`
// to every format the providers emit and boots QEMU straight from each
// converted file, not from the raw disk (the raw disk itself boots in
// TestExampleDiskBoots, and AWS's VMDK on NVMe in TestProviderTargetAWS).
// The archives are opened the way their clouds do: the OVA's VMDK and the
// GCE archive's disk.raw are taken out and booted. Each boots on its
// provider's bus where QEMU and Debian's OVMF can boot from it: GCE's
// virtio-scsi; the OVA declares vSphere's pvscsi controller, for which
// Debian's OVMF has no driver, so its disk boots on virtio-scsi as the
// nearest SCSI bus; Azure's Hyper-V storage is not emulated, so its VHDs
// boot on virtio.
func TestConvertedDisksBoot(t *testing.T) {
	requireE2E(t)
	disk, err := exampleDisk()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		format, file, qemuFormat, bus string
		// unpack takes the bootable disk out of an archive.
		unpack func(t *testing.T, archive string) string
	}{
		{format: "qcow2", file: "disk.qcow2", qemuFormat: "qcow2"},
		{format: "qcow2-compressed", file: "disk.qcow2", qemuFormat: "qcow2"},
		{format: "vhd", file: "disk.vhd", qemuFormat: "vpc"},
		{format: "vhd-dynamic", file: "disk.vhd", qemuFormat: "vpc"},
		{format: "vmdk", file: "disk.vmdk", qemuFormat: "vmdk"},
		{format: "ova", file: "disk.ova", qemuFormat: "vmdk", bus: "scsi", unpack: vmdkFromOVA},
		{format: "gce", file: "disk.tar.gz", qemuFormat: "raw", bus: "scsi", unpack: rawFromGCE},
	} {
		t.Run(c.format, func(t *testing.T) {
			out := filepath.Join(env.workDir, "converted-"+c.format)
			if log, err := run(10*time.Minute, env.repo, env.strata, "convert", "--format", c.format, "--seed", "e2e", "-o", out, disk); err != nil {
				t.Fatalf("strata convert: %v\n%s", err, log)
			}
			image := filepath.Join(out, c.file)
			if c.unpack != nil {
				image = c.unpack(t, image)
			}
			bootWith(t, boottest.Options{Disk: image, Format: c.qemuFormat, Bus: c.bus}, "converted-"+c.format+"-console.log", []string{
				"Linux version",
				"Multi-User System",
				"strata-ready: booted",
			}, nil)
		})
	}
}

// vmdkFromOVA checks the OVA as vSphere's import would (descriptor first,
// every referenced file present, the manifest's digests) and returns its
// one disk.
func vmdkFromOVA(t *testing.T, archive string) string {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dir := t.TempDir()
	var disks []string
	pkg, err := ova.Read(f, func(name string, r io.Reader) error {
		if !strings.HasSuffix(name, ".vmdk") {
			return nil
		}
		dst, err := os.Create(filepath.Join(dir, filepath.Base(name)))
		if err != nil {
			return err
		}
		defer dst.Close()
		disks = append(disks, dst.Name())
		_, err = io.Copy(dst, r)
		return err
	})
	if err != nil {
		t.Fatalf("%s: %v", archive, err)
	}
	if len(disks) != 1 || len(pkg.Disks) != 1 {
		t.Fatalf("%s holds the disks %v and declares %v; want one", archive, disks, pkg.Disks)
	}
	return disks[0]
}

// rawFromGCE takes disk.raw out of a GCE image archive, checking it as
// GCE's import does (one file, disk.raw, a whole number of GiB).
func rawFromGCE(t *testing.T, archive string) string {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	raw, err := os.Create(filepath.Join(t.TempDir(), "disk.raw"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	entry, err := gce.Extract(f, raw)
	if err != nil {
		t.Fatalf("%s is not an archive GCE accepts: %v", archive, err)
	}
	if err := raw.Truncate(entry.Size); err != nil {
		t.Fatal(err)
	}
	return raw.Name()
}
