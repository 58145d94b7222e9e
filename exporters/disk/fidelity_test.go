package disk

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// inodeInfo is what `debugfs -R "stat PATH"` tells about one inode.
type inodeInfo struct {
	Inode, Links, Blockcount int
	Type, Mode               string
	UID, GID                 int
	Size                     int64
	LinkDest, Device         string
	Mtime, Ctime             int64
}

var (
	reInode  = regexp.MustCompile(`Inode: (\d+)\s+Type: (.+?)\s+Mode:\s+(\d+)`)
	reOwner  = regexp.MustCompile(`User:\s+(\d+)\s+Group:\s+(\d+).*Size: (\d+)`)
	reLinks  = regexp.MustCompile(`Links: (\d+)\s+Blockcount: (\d+)`)
	reDest   = regexp.MustCompile(`Fast link dest: "(.*)"`)
	reDev    = regexp.MustCompile(`Device major/minor number: (\d+:\d+)`)
	reTime   = regexp.MustCompile(`(?m)^\s*(mtime|ctime): 0x([0-9a-f]+)`)
	reGroup  = regexp.MustCompile(`(?m)^Group \d+:`)
	reLsName = regexp.MustCompile(`\d+\s+\(\d+\)\s+(\S+)`)
	reXattr  = regexp.MustCompile(`(?m)^\s+(\S+) \(\d+\) = (.*?)\s*$`)
)

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

func debugfs(t *testing.T, fs, cmd string) string {
	t.Helper()
	// debugfs reports a missing path on stderr with exit status 0.
	out := run(t, "debugfs", "-R", cmd, fs)
	if strings.Contains(out, "File not found") {
		t.Fatalf("debugfs %s: %s", cmd, out)
	}
	return out
}

func statInode(t *testing.T, fs, path string) inodeInfo {
	t.Helper()
	out := debugfs(t, fs, fmt.Sprintf("stat %q", path))
	var in inodeInfo
	m := reInode.FindStringSubmatch(out)
	o := reOwner.FindStringSubmatch(out)
	l := reLinks.FindStringSubmatch(out)
	if m == nil || o == nil || l == nil {
		t.Fatalf("unparsable debugfs stat %s:\n%s", path, out)
	}
	in.Inode, in.Type, in.Mode = atoi(m[1]), m[2], m[3]
	in.UID, in.GID = atoi(o[1]), atoi(o[2])
	in.Size, _ = strconv.ParseInt(o[3], 10, 64)
	in.Links, in.Blockcount = atoi(l[1]), atoi(l[2])
	if d := reDest.FindStringSubmatch(out); d != nil {
		in.LinkDest = d[1]
	}
	if d := reDev.FindStringSubmatch(out); d != nil {
		in.Device = d[1]
	}
	for _, tm := range reTime.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseInt(tm[2], 16, 64)
		if tm[1] == "mtime" {
			in.Mtime = v
		} else {
			in.Ctime = v
		}
	}
	return in
}

func xattrs(t *testing.T, fs, path string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, x := range reXattr.FindAllStringSubmatch(debugfs(t, fs, fmt.Sprintf("ea_list %q", path)), -1) {
		m[x[1]] = x[2]
	}
	return m
}

func TestAssembleFidelity(t *testing.T) {
	requireRoot(t)
	requireTools(t, "mke2fs", "debugfs", "e2fsck", "sfdisk", "fsck.vfat", "tar", "dd")

	src := t.TempDir()
	makeFidelityTree(t, src)
	// An unusual root mode proves the root inode gets the tree's mode
	// (mke2fs -d alone leaves it at 0755).
	must(t, os.Chmod(src, 0o751))
	tarball := filepath.Join(t.TempDir(), "rootfs.tar")
	run(t, "tar", "--xattrs", "--xattrs-include=*", "--sparse", "--numeric-owner", "-cf", tarball, "-C", src, ".")

	for _, input := range []struct{ name, rootfs string }{{"dir", src}, {"tar", tarball}} {
		t.Run(input.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "disk.raw")
			opts := Options{
				Size:    1 << 30,
				ESPSize: 64 << 20,
				Seed:    "sha256:fidelity",
				Cmdline: "console=ttyS0 quiet",
				Title:   "Fidelity",
				Epoch:   fixtureEpoch,
			}
			start := time.Now()
			res, err := Assemble(context.Background(), input.rootfs, out, opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("Assemble (%s input) took %v", input.name, time.Since(start))
			if res.KernelVersion != testKernelV || res.Kernel != "/boot/vmlinuz-"+testKernelV ||
				res.Initrd != "/boot/initrd.img-"+testKernelV || res.Loader != "/"+sdBoot {
				t.Errorf("result boot files: %+v", res)
			}
			checkPartitionTable(t, out, res.Layout)
			checkImageIsSparse(t, out)
			checkESP(t, out, res)
			checkRootFS(t, out, res.Layout)
			checkInspect(t, out, res)
		})
	}
}

func checkPartitionTable(t *testing.T, img string, l Layout) {
	t.Helper()
	var pt struct {
		PartitionTable struct {
			Label, ID  string
			SectorSize int
			FirstLBA   int64 `json:"firstlba"`
			LastLBA    int64 `json:"lastlba"`
			Partitions []struct {
				Start, Size      int64
				Type, UUID, Name string
			}
		} `json:"partitiontable"`
	}
	must(t, json.Unmarshal([]byte(run(t, "sfdisk", "--json", img)), &pt))
	p := pt.PartitionTable
	if p.Label != "gpt" || !strings.EqualFold(p.ID, l.DiskGUID) || p.SectorSize != 512 || len(p.Partitions) != 2 {
		t.Fatalf("sfdisk sees %+v", p)
	}
	if want := l.DiskSize/512 - 34; p.LastLBA != want {
		t.Errorf("last usable LBA %d, want %d (backup GPT at the end)", p.LastLBA, want)
	}
	for i, want := range []Partition{l.ESP, l.Root} {
		got := p.Partitions[i]
		if got.Start*512 != want.Start || got.Size*512 != want.Size() || got.Type != want.TypeGUID ||
			!strings.EqualFold(got.UUID, want.GUID) || got.Name != want.Name {
			t.Errorf("partition %d: sfdisk %+v, want %+v", i+1, got, want)
		}
		if got.Start%2048 != 0 || got.Size%2048 != 0 {
			t.Errorf("partition %d not 1 MiB aligned: %+v", i+1, got)
		}
	}
	run(t, "sfdisk", "--verify", img)
}

func checkImageIsSparse(t *testing.T, img string) {
	t.Helper()
	var st unix.Stat_t
	must(t, unix.Stat(img, &st))
	// 1 GiB apparent; the content is a few MiB (ESP metadata, ext4
	// metadata, the 4 KiB of the sparse file).
	if used := st.Blocks * 512; st.Size != 1<<30 || used > 16<<20 {
		t.Errorf("image: size %d, allocated %d bytes; want 1 GiB mostly holes", st.Size, used)
	}
}

func extractRange(t *testing.T, img string, p Partition) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "part.img")
	run(t, "dd", "if="+img, "of="+dst, "bs=1M", "iflag=skip_bytes,count_bytes", "conv=sparse",
		fmt.Sprintf("skip=%d", p.Start), fmt.Sprintf("count=%d", p.Size()), "status=none")
	return dst
}

func checkESP(t *testing.T, img string, res *Result) {
	t.Helper()
	esp := extractRange(t, img, res.Layout.ESP)
	// -n: check only. fsck.fat exits non-zero on anything it would fix.
	run(t, "fsck.vfat", "-n", esp)
	blkid := run(t, "blkid", "-p", "-o", "export", esp)
	wantID := fmt.Sprintf("UUID=%04X-%04X", res.Layout.ESPVolumeID>>16, res.Layout.ESPVolumeID&0xffff)
	for _, want := range []string{"TYPE=vfat", "VERSION=FAT32", "LABEL=ESP", wantID} {
		if !strings.Contains(blkid, want+"\n") {
			t.Errorf("blkid of the ESP lacks %s:\n%s", want, blkid)
		}
	}
}

func checkRootFS(t *testing.T, img string, l Layout) {
	t.Helper()
	// e2fsprogs' unix I/O manager takes "file?offset=N": no need to copy
	// the partition out.
	fs := fmt.Sprintf("%s?offset=%d", img, l.Root.Start)
	run(t, "e2fsck", "-fn", fs)
	sb := run(t, "dumpe2fs", "-h", fs)
	for _, want := range []string{
		"Filesystem volume name:   root",
		"Filesystem UUID:          " + l.RootFSUUID,
		"Directory Hash Seed:      " + l.RootHashSeed,
		fmt.Sprintf("Block count:              %d", l.Root.Size()/4096),
	} {
		if !strings.Contains(sb, want) {
			t.Errorf("dumpe2fs lacks %q", want)
		}
	}
	// Zeroed inode tables must be flagged as such, or every first boot
	// rewrites them (ext4lazyinit) and the image stops being sparse.
	groups := run(t, "dumpe2fs", fs)
	if n, z := len(reGroup.FindAllString(groups, -1)), strings.Count(groups, "ITABLE_ZEROED"); n == 0 || n != z {
		t.Errorf("%d of %d block groups flagged ITABLE_ZEROED", z, n)
	}
	for _, feature := range []string{"orphan_file", "metadata_csum_seed"} {
		if strings.Contains(sb, feature) {
			t.Errorf("ext4 has %s, which GRUB 2.06 cannot read", feature)
		}
	}

	type want struct {
		typ, mode string
		uid, gid  int
		links     int
		dest, dev string
	}
	for path, w := range map[string]want{
		"/":                      {"directory", "0751", 0, 0, 0, "", ""},
		"/usr/bin/strata-suid":   {"regular", "04755", 0, 0, 1, "", ""},
		"/usr/bin/strata-sgid":   {"regular", "02755", 0, 50, 1, "", ""},
		"/tmp":                   {"directory", "01777", 0, 0, 2, "", ""},
		"/data/hardlink-a":       {"regular", "0644", 0, 0, 3, "", ""},
		"/data/link-relative":    {"symlink", "0777", 0, 0, 1, "hardlink-a", ""},
		"/data/link-absolute":    {"symlink", "0777", 0, 0, 1, "/usr/bin/strata-suid", ""},
		"/data/link-dangling":    {"symlink", "0777", 0, 0, 1, "/nonexistent/strata-target", ""},
		"/dev/strata-char":       {"character special", "0666", 0, 0, 1, "", "01:03"},
		"/dev/strata-block":      {"block special", "0660", 0, 6, 1, "", "08:01"},
		"/data/fifo":             {"FIFO", "0640", 0, 0, 1, "", ""},
		"/data/" + longName:      {"regular", "0644", 0, 0, 1, "", ""},
		"/home/strata-user":      {"directory", "0750", 100000, 100000, 2, "", ""},
		"/home/strata-user/file": {"regular", "0600", 100000, 100000, 1, "", ""},
		"/empty":                 {"directory", "0755", 0, 0, 2, "", ""},
	} {
		got := statInode(t, fs, path)
		if got.Type != w.typ || got.Mode != w.mode || got.UID != w.uid || got.GID != w.gid ||
			(w.links != 0 && got.Links != w.links) || got.LinkDest != w.dest || got.Device != w.dev {
			t.Errorf("%s: got %+v, want %+v", path, got, w)
		}
	}

	a, b, c := statInode(t, fs, "/data/hardlink-a"), statInode(t, fs, "/data/hardlink-b"), statInode(t, fs, "/data/hardlink-c")
	if a.Inode != b.Inode || a.Inode != c.Inode {
		t.Errorf("hard links on inodes %d %d %d", a.Inode, b.Inode, c.Inode)
	}
	if names := reLsName.FindAllStringSubmatch(debugfs(t, fs, "ls /empty"), -1); len(names) != 2 ||
		names[0][1] != "." || names[1][1] != ".." {
		t.Errorf("/empty holds %q, want only . and ..", names)
	}

	x := xattrs(t, fs, "/usr/bin/strata-cap")
	if want := "01 00 00 02 00 20 00 00 00 00 00 00 00 00 00 00 00 00 00 00"; x["security.capability"] != want {
		t.Errorf("security.capability = %q, want %q", x["security.capability"], want)
	}
	if x["user.strata"] != `"test-value"` {
		t.Errorf("user.strata = %q", x["user.strata"])
	}

	sp := statInode(t, fs, "/data/sparse")
	if sp.Size != 64<<20 || sp.Blockcount > 16 { // Blockcount is in 512-byte units: 4 KiB of data is 8
		t.Errorf("sparse file: size %d, blockcount %d", sp.Size, sp.Blockcount)
	}
	dump := filepath.Join(t.TempDir(), "sparse")
	debugfs(t, fs, fmt.Sprintf("dump /data/sparse %s", dump))
	content, err := os.ReadFile(dump)
	must(t, err)
	if len(content) != 64<<20 || !bytes.Equal(content[32<<20:32<<20+4096], sparseData) ||
		!bytes.Equal(content[:4096], make([]byte, 4096)) {
		t.Errorf("sparse file content differs")
	}

	// Times: mtimes older than the epoch survive, ctime is the epoch.
	h := statInode(t, fs, "/etc/hostname")
	if h.Mtime != oldMtime.Unix() || h.Ctime != fixtureEpoch.Unix() {
		t.Errorf("/etc/hostname mtime %d ctime %d, want %d %d", h.Mtime, h.Ctime, oldMtime.Unix(), fixtureEpoch.Unix())
	}
	if got := debugfs(t, fs, "cat /etc/hostname"); !strings.Contains(got, "strata-test\n") {
		t.Errorf("/etc/hostname content %q", got)
	}
}

func checkInspect(t *testing.T, img string, res *Result) {
	t.Helper()
	rep, err := Inspect(img)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 0 {
		t.Errorf("problems: %q", rep.Problems)
	}
	if len(rep.Partitions) != 2 || rep.DiskGUID != res.Layout.DiskGUID || !rep.ProtectiveMBR {
		t.Fatalf("report: %+v", rep)
	}
	esp, root := rep.Partitions[0], rep.Partitions[1]
	if esp.Filesystem == nil || esp.Filesystem.Type != "vfat" || esp.Filesystem.Label != "ESP" || esp.Type != "EFI System" {
		t.Errorf("ESP report %+v %+v", esp, esp.Filesystem)
	}
	if root.Filesystem == nil || root.Filesystem.Type != "ext4" || root.Filesystem.Label != "root" ||
		root.Filesystem.UUID != res.Layout.RootFSUUID || root.Filesystem.Blocks != uint64(res.Layout.Root.Size()/4096) {
		t.Errorf("root report %+v %+v", root, root.Filesystem)
	}
	e := rep.DefaultEntry()
	if e == nil {
		t.Fatalf("no default entry in %+v", rep.Loader)
	}
	wantCmdline := "root=PARTUUID=" + res.Layout.Root.GUID + " rw console=ttyS0 quiet"
	if e.Kernel != "/strata/"+testKernelV+"/vmlinuz" || e.Initrd != "/strata/"+testKernelV+"/initrd.img" ||
		e.Cmdline != wantCmdline || e.Title != "Fidelity" || e.Version != testKernelV {
		t.Errorf("default entry %+v, want cmdline %q", e, wantCmdline)
	}
	if rep.Loader.Timeout != "0" {
		t.Errorf("timeout %q", rep.Loader.Timeout)
	}
	sizes := map[string]int64{}
	for _, f := range rep.ESPFiles {
		sizes[f.Path] = f.Size
	}
	for path, size := range map[string]int{
		"/EFI/BOOT/BOOTX64.EFI":                  len(fakeSDBoot),
		"/EFI/systemd/systemd-bootx64.efi":       len(fakeSDBoot),
		"/strata/" + testKernelV + "/vmlinuz":    len(fakeKernel),
		"/strata/" + testKernelV + "/initrd.img": len(fakeInitrd),
	} {
		if sizes[path] != int64(size) {
			t.Errorf("ESP %s: size %d, want %d (files: %v)", path, sizes[path], size, rep.ESPFiles)
		}
	}
}
