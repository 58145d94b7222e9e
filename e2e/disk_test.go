package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// exampleDisk builds examples/debian.yaml once for every test that needs it.
var exampleDisk = sync.OnceValues(func() (string, error) {
	out := filepath.Join(env.workDir, "example")
	log, err := strataBuild("examples/debian.yaml", "disk", out)
	if err != nil {
		return "", fmt.Errorf("strata build: %w\n%s", err, tail(log, 120))
	}
	exampleDiskLog = log
	return filepath.Join(out, "disk.raw"), nil
})

// exampleDiskLog is exampleDisk's build output.
var exampleDiskLog string

func TestExampleDiskLayout(t *testing.T) {
	requireE2E(t)
	disk, err := exampleDisk()
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(disk)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(4 << 30); st.Size() != want {
		t.Errorf("disk size %d, want %d (disk.size: 4GiB)", st.Size(), want)
	}
	// strata build reads the disk itself by its data extents, and leaves
	// the rest as holes.
	if allocated := st.Sys().(*syscall.Stat_t).Blocks * 512; allocated > 2<<30 {
		t.Errorf("disk.raw has %d MiB allocated of 4096: not sparse", allocated>>20)
	}
	for _, step := range []string{"list the data extents of /result/disk.raw", "copying /disk.raw to "} {
		if !strings.Contains(exampleDiskLog, step) {
			t.Errorf("the build shows no step %q: the disk was not read by its extents\n%s", step, tail(exampleDiskLog, 40))
		}
	}
	if strings.Contains(exampleDiskLog, "could not be listed") {
		t.Errorf("the disk's data extents could not be listed:\n%s", tail(exampleDiskLog, 40))
	}

	table := sfdisk(t, disk)
	if table.Label != "gpt" {
		t.Fatalf("partition table %q, want gpt", table.Label)
	}
	if len(table.Partitions) != 2 {
		t.Fatalf("%d partitions, want ESP and root", len(table.Partitions))
	}
	esp, root := table.Partitions[0], table.Partitions[1]
	if esp.Type != "C12A7328-F81F-11D2-BA4B-00A0C93EC93B" {
		t.Errorf("partition 1 type %s, want the EFI system partition type", esp.Type)
	}
	if root.Type != "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709" {
		t.Errorf("partition 2 type %s, want Linux root (x86-64)", root.Type)
	}
	for _, p := range table.Partitions {
		if p.Start*512%(1<<20) != 0 {
			t.Errorf("partition %s starts at sector %d: not 1 MiB aligned", p.Node, p.Start)
		}
	}

	espImg := extract(t, disk, esp.Start, esp.Size)
	if out, err := exec.Command("fsck.vfat", "-n", espImg).CombinedOutput(); err != nil {
		t.Errorf("fsck.vfat -n on the ESP: %v\n%s", err, out)
	}
	rootImg := extract(t, disk, root.Start, root.Size)
	if out, err := exec.Command("e2fsck", "-fn", rootImg).CombinedOutput(); err != nil {
		t.Errorf("e2fsck -fn on the root: %v\n%s", err, out)
	}

	// What the spec asked for is in the root filesystem.
	checks := map[string]string{
		"cat /etc/sysctl.d/90-strata.conf":                                      "net.ipv4.ip_forward = 1",
		"cat /etc/modules-load.d/strata.conf":                                   "br_netfilter",
		"stat /etc/systemd/system/multi-user.target.wants/strata-ready.service": "Type: symlink",
		"cat /etc/issue.d/strata.issue":                                         "strata example image",
		"cat /etc/systemd/network/80-strata-dhcp.network":                       "DHCP=yes",
	}
	checkDebugfs(t, rootImg, checks)
	// Sysprep: the machine-id is empty and no SSH host key or apt list is left.
	if got := debugfs(t, rootImg, "stat /etc/machine-id"); !strings.Contains(got, "Size: 0") {
		t.Errorf("/etc/machine-id is not empty:\n%s", got)
	}
	if got := debugfs(t, rootImg, "ls -l /var/lib/apt/lists"); strings.Contains(got, "_Packages") {
		t.Errorf("apt lists left in the image:\n%s", got)
	}

	out, err := exec.Command(env.strata, "inspect", disk).CombinedOutput()
	if err != nil {
		t.Fatalf("strata inspect: %v\n%s", err, out)
	}
	for _, want := range []string{"root=PARTUUID=" + strings.ToLower(root.UUID), "console=ttyS0", "vmlinuz"} {
		if !strings.Contains(strings.ToLower(string(out)), strings.ToLower(want)) {
			t.Errorf("strata inspect does not show %q:\n%s", want, out)
		}
	}
}

type sfdiskTable struct {
	Label      string `json:"label"`
	ID         string `json:"id"`
	Partitions []struct {
		Node  string `json:"node"`
		Start int64  `json:"start"`
		Size  int64  `json:"size"`
		Type  string `json:"type"`
		UUID  string `json:"uuid"`
		Name  string `json:"name"`
	} `json:"partitions"`
}

func sfdisk(t *testing.T, disk string) sfdiskTable {
	t.Helper()
	out, err := exec.Command("sfdisk", "--json", disk).Output()
	if err != nil {
		t.Fatalf("sfdisk --json: %v", err)
	}
	var v struct {
		PartitionTable sfdiskTable `json:"partitiontable"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("sfdisk json: %v\n%s", err, out)
	}
	return v.PartitionTable
}

// extract copies a partition out with dd, keeping holes, so e2fsck and
// debugfs (which take no offset) can read it.
func extract(t *testing.T, disk string, start, sectors int64) string {
	t.Helper()
	f, err := os.CreateTemp(env.workDir, "part-*.img")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	t.Cleanup(func() { os.Remove(f.Name()) })
	cmd := exec.Command("dd", "if="+disk, "of="+f.Name(), "bs=1M", "skip="+fmt.Sprint(start*512),
		"count="+fmt.Sprint(sectors*512), "conv=sparse", "iflag=skip_bytes,count_bytes,fullblock", "status=none")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dd: %v\n%s", err, out)
	}
	return f.Name()
}

// checkDebugfs runs each debugfs request on the ext4 image and wants its
// text in the answer.
func checkDebugfs(t *testing.T, img string, checks map[string]string) {
	t.Helper()
	for req, want := range checks {
		if got := debugfs(t, img, req); !strings.Contains(got, want) {
			t.Errorf("debugfs %q: want %q in\n%s", req, want, got)
		}
	}
}

func debugfs(t *testing.T, img, request string) string {
	t.Helper()
	out, err := exec.Command("debugfs", "-R", request, img).CombinedOutput()
	if err != nil {
		t.Fatalf("debugfs -R %q: %v\n%s", request, err, out)
	}
	return string(out)
}

// TestBuildArgOverridesSpec: a --build-arg changes the disk (its size)
// while the OS layer comes from cache.
func TestBuildArgOverridesSpec(t *testing.T) {
	requireE2E(t)
	if _, err := exampleDisk(); err != nil {
		t.Fatal(err) // warms the cache, so the check below is meaningful
	}
	out := filepath.Join(env.workDir, "override")
	log, err := strataBuild("examples/debian.yaml", "disk", out, "--build-arg", "DISK_SIZE=2GiB", "--progress", "rawjson")
	if err != nil {
		t.Fatalf("build: %v\n%s", err, tail(log, 80))
	}
	st, err := os.Stat(filepath.Join(out, "disk.raw"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != 2<<30 {
		t.Errorf("disk size %d, want 2 GiB from DISK_SIZE", st.Size())
	}
	for _, step := range []string{"[os 1/6] install kernel", "[os 2/6] install packages"} {
		if !cached(log, step) {
			t.Errorf("step %q re-ran for a disk-only change:\n%s", step, tail(log, 80))
		}
	}
}

// vertexCache reads `--progress rawjson` output and reports, for each vertex
// name, whether BuildKit served it from cache: the solve's own account.
func vertexCache(log string) map[string]bool {
	out := map[string]bool{}
	for _, line := range strings.Split(log, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var status struct {
			Vertexes []struct {
				Name      string     `json:"name"`
				Cached    bool       `json:"cached"`
				Completed *time.Time `json:"completed"`
			} `json:"vertexes"`
		}
		if json.Unmarshal([]byte(line), &status) != nil {
			continue
		}
		for _, v := range status.Vertexes {
			if v.Completed != nil || v.Cached {
				out[v.Name] = out[v.Name] || v.Cached
			}
		}
	}
	return out
}

func cached(log, prefix string) bool {
	for name, c := range vertexCache(log) {
		if strings.HasPrefix(name, prefix) {
			return c
		}
	}
	return false
}
