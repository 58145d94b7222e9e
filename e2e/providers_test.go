package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-dev/strata/boottest"
	"github.com/strata-dev/strata/exporters/disk"
	"github.com/strata-dev/strata/exporters/formats/gce"
	"github.com/strata-dev/strata/exporters/providers"
)

// TestProviderTargetAWS builds the example's aws target: the OS layer
// comes from cache, the aws guest configuration is in the image (cloud-init
// datasources, initrd modules, kernel arguments), the manifest describes
// the VMDK, and the VMDK boots from an NVMe controller as on EC2's Nitro
// instances.
func TestProviderTargetAWS(t *testing.T) {
	requireE2E(t)
	if _, err := exampleDisk(); err != nil {
		t.Fatal(err) // the plain disk's build puts the OS layer in the cache
	}
	out := filepath.Join(env.workDir, "provider-aws")
	log, err := strataBuild("examples/debian.yaml", "aws", out, "--progress", "rawjson")
	if err != nil {
		t.Fatalf("strata build --target aws: %v\n%s", err, tail(log, 80))
	}
	status := vertexCache(log)
	assertAllCached(t, status, "[os ")
	requireVertex(t, status, "[aws guest] cloud-init datasources Ec2, None; initrd modules nvme ena")

	m := checkManifest(t, out, "aws", "vmdk", "disk.vmdk")
	if m.Import["BootMode"] != "uefi" || m.Import["EnaSupport"] != true {
		t.Errorf("manifest import parameters: %v", m.Import)
	}
	if m.Guest == nil || strings.Join(m.Guest.InitrdModules, " ") != "nvme ena" {
		t.Errorf("manifest guest configuration %+v, want aws's, which the build applied", m.Guest)
	}
	vmdk := filepath.Join(out, "disk.vmdk")
	raw := filepath.Join(t.TempDir(), "aws.raw")
	if b, err := exec.Command("qemu-img", "convert", "-f", "vmdk", "-O", "raw", vmdk, raw).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v\n%s", err, b)
	}
	root := checkBootEntry(t, raw, "nvme_core.io_timeout=4294967295")
	checkDebugfs(t, root, map[string]string{
		"cat /etc/cloud/cloud.cfg.d/90-strata-aws.cfg": "datasource_list: [ Ec2, None ]",
		"cat /etc/initramfs-tools/modules":             "nvme\nena\n",
	})

	bootWith(t, boottest.Options{Disk: vmdk, Format: "vmdk", Bus: "nvme"}, "provider-aws-console.log", []string{
		"Linux version",
		"Multi-User System",
		"strata-ready: booted",
	}, nil)
}

// TestProviderTargetGCP builds the gcp target: its own guest
// configuration and none of aws's, the OS layer from cache, and an archive
// GCE accepts.
func TestProviderTargetGCP(t *testing.T) {
	requireE2E(t)
	if _, err := exampleDisk(); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(env.workDir, "provider-gcp")
	log, err := strataBuild("examples/debian.yaml", "gcp", out, "--progress", "rawjson")
	if err != nil {
		t.Fatalf("strata build --target gcp: %v\n%s", err, tail(log, 80))
	}
	status := vertexCache(log)
	assertAllCached(t, status, "[os ")
	requireVertex(t, status, "[gcp guest] ")
	for name := range status {
		if strings.HasPrefix(name, "[aws") {
			t.Errorf("the gcp build has an aws step: %q", name)
		}
	}
	m := checkManifest(t, out, "gcp", "gce", "disk.tar.gz")
	if m.VirtualSize != 4<<30 {
		t.Errorf("manifest virtual_size %d, want the example's 4 GiB", m.VirtualSize)
	}

	archive, err := os.Open(filepath.Join(out, "disk.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer archive.Close()
	raw, err := os.Create(filepath.Join(t.TempDir(), "disk.raw"))
	if err != nil {
		t.Fatal(err)
	}
	entry, err := gce.Extract(archive, raw)
	if err != nil {
		t.Fatalf("the archive is not one GCE accepts: %v", err)
	}
	if err := raw.Truncate(entry.Size); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	root := checkBootEntry(t, raw.Name(), "console=ttyS0")
	checkDebugfs(t, root, map[string]string{
		"cat /etc/cloud/cloud.cfg.d/90-strata-gcp.cfg":  "datasource_list: [ GCE, None ]",
		"cat /etc/initramfs-tools/modules":              "virtio_scsi\nvirtio_pci\nnvme\ngve\n",
		"stat /etc/cloud/cloud.cfg.d/90-strata-aws.cfg": "File not found",
	})
}

// TestProviderRejectsDiskSize: GCE takes whole GiB only; the build fails
// at disk.size, blaming the build arg that set it, and exports nothing.
func TestProviderRejectsDiskSize(t *testing.T) {
	requireE2E(t)
	out := filepath.Join(t.TempDir(), "out")
	log, err := strataBuild("examples/debian.yaml", "gcp", out, "--build-arg", "DISK_SIZE=1500MiB")
	if err == nil {
		t.Fatalf("a 1500MiB disk built for gcp:\n%s", tail(log, 30))
	}
	want := "disk.size: gcp needs a disk size that is a multiple of 1GiB (GCE imports disk.raw of whole GiB, at most 2 TiB); 1500MiB is not: use 2GiB (for --target gcp); set disk.size to a size gcp accepts (set by build arg DISK_SIZE)"
	if !strings.Contains(log, want) {
		t.Errorf("output lacks %q:\n%s", want, tail(log, 30))
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a rejected build exported %s", out)
	}
}

// TestOutputsListed: a spec listing several outputs builds each into a
// directory of its name when no --target is given.
func TestOutputsListed(t *testing.T) {
	requireE2E(t)
	if _, err := exampleDisk(); err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile(filepath.Join(env.repo, "examples/debian.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const listed = "outputs: [disk]\n"
	if !strings.Contains(string(example), listed) {
		t.Fatalf("examples/debian.yaml lacks %q", listed)
	}
	spec := filepath.Join(t.TempDir(), "outputs.yaml")
	if err := os.WriteFile(spec, []byte(strings.Replace(string(example), listed, "outputs: [disk, raw]\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(env.workDir, "outputs")
	log, err := strataBuild(spec, "", out)
	if err != nil {
		t.Fatalf("strata build with outputs: %v\n%s", err, tail(log, 60))
	}
	m := checkManifest(t, filepath.Join(out, "raw"), "raw", "raw", "disk.raw")
	if got := fileSHA256(t, filepath.Join(out, "disk", "disk.raw")); got != m.Files[0].SHA256 {
		t.Errorf("out/disk/disk.raw has sha256 %s; the raw output, converted from the same disk, %s", got, m.Files[0].SHA256)
	}
}

// checkManifest reads dir's manifest.json and checks it against the
// provider and the one file it must describe, hashing the file.
func checkManifest(t *testing.T, dir, provider, format, file string) *providers.Manifest {
	t.Helper()
	m, err := providers.ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.Provider != provider || m.BootMode != "uefi" || !strings.HasPrefix(m.SpecDigest, "sha256:") || m.SpecName != "debian-12" || m.StrataVersion == "" {
		t.Errorf("%s/manifest.json: %+v", dir, m)
	}
	if len(m.Files) != 1 || m.Files[0].Name != file || m.Files[0].Format != format {
		t.Fatalf("%s/manifest.json files %+v, want one %s file %s", dir, m.Files, format, file)
	}
	path := filepath.Join(dir, file)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != m.Files[0].Size {
		t.Errorf("%s is %d bytes, the manifest says %d", path, fi.Size(), m.Files[0].Size)
	}
	if got := fileSHA256(t, path); got != m.Files[0].SHA256 {
		t.Errorf("%s has sha256 %s, the manifest says %s", path, got, m.Files[0].SHA256)
	}
	return m
}

// checkBootEntry inspects a raw disk offline, wants arg on the default
// boot entry's command line, and returns the root partition extracted.
func checkBootEntry(t *testing.T, raw, arg string) string {
	t.Helper()
	rep, err := disk.Inspect(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) > 0 {
		t.Errorf("strata inspect finds problems: %v", rep.Problems)
	}
	entry := rep.DefaultEntry()
	if entry == nil {
		t.Fatal("no default boot entry")
	}
	if !strings.Contains(" "+entry.Cmdline+" ", " "+arg+" ") {
		t.Errorf("boot entry command line %q lacks %s", entry.Cmdline, arg)
	}
	if n := strings.Count(entry.Cmdline, "console=ttyS0"); n != 1 {
		t.Errorf("boot entry command line %q sets console=ttyS0 %d times", entry.Cmdline, n)
	}
	if len(rep.Partitions) != 2 {
		t.Fatalf("%d partitions, want ESP and root", len(rep.Partitions))
	}
	p := rep.Partitions[1]
	return extract(t, raw, p.Start/512, (p.End-p.Start)/512)
}

func requireVertex(t *testing.T, status map[string]bool, prefix string) {
	t.Helper()
	for name := range status {
		if strings.HasPrefix(name, prefix) {
			return
		}
	}
	t.Errorf("no %q vertex in the solve status", prefix)
}
