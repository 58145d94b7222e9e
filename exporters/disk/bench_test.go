package disk

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// benchTree writes about 210 MB: an 8 MiB kernel and a 40 MiB initrd
// (typical Debian cloud sizes; they exercise the FAT writer), 150 files of
// 1 MiB and 3000 of 4 KiB, all incompressible.
func benchTree(b *testing.B) string {
	b.Helper()
	root := b.TempDir()
	rng := rand.NewChaCha8([32]byte{'s', 't', 'r', 'a', 't', 'a'})
	write := func(rel string, size int) {
		p := filepath.Join(root, rel)
		must(b, os.MkdirAll(filepath.Dir(p), 0o755))
		buf := make([]byte, size)
		_, _ = rng.Read(buf)
		must(b, os.WriteFile(p, buf, 0o644))
	}
	write("boot/vmlinuz-"+testKernelV, 8<<20)
	write("boot/initrd.img-"+testKernelV, 40<<20)
	write(sdBoot, 120<<10)
	for i := range 150 {
		write(fmt.Sprintf("usr/lib/bench/big-%03d", i), 1<<20)
	}
	for i := range 3000 {
		write(fmt.Sprintf("usr/share/bench/%02d/small-%04d", i%30, i), 4<<10)
	}
	return root
}

// peerAssemble is the classic rootless pipeline the design compares
// against: mkfs.ext4 -d and mkfs.vfat + mtools into separate files, sfdisk
// for the table, dd conv=sparse to place both.
func peerAssemble(b *testing.B, tree, dir string, l Layout) {
	b.Helper()
	img := filepath.Join(dir, "peer.raw")
	esp := filepath.Join(dir, "peer-esp.img")
	root := filepath.Join(dir, "peer-root.img")
	for _, p := range []string{img, esp, root} {
		os.Remove(p)
	}
	run(b, "truncate", "-s", fmt.Sprint(l.DiskSize), img)
	script := fmt.Sprintf("label: gpt\nstart=%d, size=%d, type=%s\nstart=%d, size=%d, type=%s\n",
		l.ESP.FirstLBA(), l.ESP.Size()/512, l.ESP.TypeGUID, l.Root.FirstLBA(), l.Root.Size()/512, l.Root.TypeGUID)
	sf := filepath.Join(dir, "sfdisk.script")
	must(b, os.WriteFile(sf, []byte(script), 0o644))
	run(b, "sh", "-c", fmt.Sprintf("sfdisk -q %s < %s", img, sf))

	v := "/strata/" + testKernelV
	run(b, "mkfs.vfat", "-F", "32", "-n", "ESP", "-C", esp, fmt.Sprint(l.ESP.Size()/1024))
	run(b, "mmd", "-i", esp, "::/EFI", "::/EFI/BOOT", "::/EFI/systemd", "::/loader", "::/loader/entries", "::/strata", "::"+v)
	for _, c := range [][2]string{
		{sdBoot, "/EFI/BOOT/BOOTX64.EFI"},
		{sdBoot, "/EFI/systemd/systemd-bootx64.efi"},
		{"boot/vmlinuz-" + testKernelV, v + "/vmlinuz"},
		{"boot/initrd.img-" + testKernelV, v + "/initrd.img"},
	} {
		run(b, "mcopy", "-i", esp, filepath.Join(tree, c[0]), "::"+c[1])
	}
	run(b, "mkfs.ext4", "-q", "-F", "-d", tree, root, fmt.Sprintf("%dk", l.Root.Size()/1024))
	run(b, "dd", "if="+esp, "of="+img, "bs=1M", fmt.Sprintf("seek=%d", l.ESP.Start>>20), "conv=sparse,notrunc", "status=none")
	run(b, "dd", "if="+root, "of="+img, "bs=1M", fmt.Sprintf("seek=%d", l.Root.Start>>20), "conv=sparse,notrunc", "status=none")
}

// BenchmarkAssemble times Assemble on a ~210 MB tree into a 2 GiB disk and,
// in the same run, the peer pipeline on the same tree, and reports
// peer/strata (above 1 means Assemble is faster).
func BenchmarkAssemble(b *testing.B) {
	requireTools(b, "mke2fs", "mkfs.ext4", "sfdisk", "mkfs.vfat", "mmd", "mcopy", "dd", "truncate")
	tree := benchTree(b)
	dir := b.TempDir()
	opts := Options{Size: 2 << 30, Seed: "sha256:bench", Epoch: fixtureEpoch}
	out := filepath.Join(dir, "disk.raw")

	var ours time.Duration
	n := 0
	var res *Result
	for b.Loop() {
		start := time.Now()
		var err error
		if res, err = Assemble(context.Background(), tree, out, opts); err != nil {
			b.Fatal(err)
		}
		ours += time.Since(start)
		n++
	}

	var peer time.Duration
	for range n {
		start := time.Now()
		peerAssemble(b, tree, dir, res.Layout)
		peer += time.Since(start)
	}
	b.ReportMetric(float64(peer.Nanoseconds())/float64(n), "peer-ns/op")
	b.ReportMetric(peer.Seconds()/ours.Seconds(), "peer/strata")
}
