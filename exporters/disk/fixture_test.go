package disk

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Stand-in boot files: real kernels are not needed to test placement, and
// the contents say what they are.
const (
	fakeKernel  = "fake-kernel for tests (not a real vmlinuz)\n"
	fakeInitrd  = "fake-initrd for tests (not a real initramfs)\n"
	fakeSDBoot  = "fake-systemd-boot for tests (not a real EFI binary)\n"
	testKernelV = "6.1.0-test"
)

// capNetRawEP is a VFS_CAP_REVISION_2 security.capability value for
// cap_net_raw+ep, as `setcap cap_net_raw+ep` writes it.
var capNetRawEP = []byte{1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}

var (
	sparseData   = bytes.Repeat([]byte("sparse!"), 600)[:4096]
	longName     = strings.Repeat("n", 255)
	oldMtime     = time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	fixtureEpoch = time.Date(2024, 5, 6, 7, 8, 10, 0, time.UTC)
)

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (device nodes, foreign owners, security.* xattrs)")
	}
}

func requireTools(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed: %v", tool, err)
		}
	}
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// writeBootFixture adds the stand-in kernel, initrd and systemd-boot, plus
// an older kernel that must not be picked.
func writeBootFixture(t testing.TB, root string) {
	t.Helper()
	files := map[string]string{
		"boot/vmlinuz-" + testKernelV:    fakeKernel,
		"boot/initrd.img-" + testKernelV: fakeInitrd,
		"boot/vmlinuz-5.10.0-old":        "old fake kernel\n",
		"boot/initrd.img-5.10.0-old":     "old fake initrd\n",
		sdBoot:                           fakeSDBoot,
	}
	for p, content := range files {
		must(t, os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755))
		must(t, os.WriteFile(filepath.Join(root, p), []byte(content), 0o644))
	}
}

// makeFidelityTree builds a tree with every kind of entry the root
// filesystem must keep. It needs root.
func makeFidelityTree(t testing.TB, root string) {
	t.Helper()
	writeBootFixture(t, root)
	makeFidelityFiles(t, root)
}

// makeFidelityFiles writes the entries of makeFidelityTree that are not
// boot files.
func makeFidelityFiles(t testing.TB, root string) {
	t.Helper()
	p := func(rel string) string { return filepath.Join(root, rel) }
	for _, d := range []string{"usr/bin", "data", "dev", "etc", "home", "empty"} {
		must(t, os.MkdirAll(p(d), 0o755))
	}
	file := func(rel, content string, uid, gid int, mode uint32) {
		must(t, os.WriteFile(p(rel), []byte(content), 0o600))
		must(t, os.Lchown(p(rel), uid, gid))
		must(t, unix.Chmod(p(rel), mode)) // after chown, which clears setuid
	}
	file("usr/bin/strata-suid", "#!/bin/sh\n", 0, 0, 0o4755)
	file("usr/bin/strata-sgid", "#!/bin/sh\n", 0, 50, 0o2755)
	file("usr/bin/strata-cap", "capable\n", 0, 0, 0o755)
	must(t, unix.Lsetxattr(p("usr/bin/strata-cap"), "security.capability", capNetRawEP, 0))
	must(t, unix.Lsetxattr(p("usr/bin/strata-cap"), "user.strata", []byte("test-value"), 0))
	file("etc/hostname", "strata-test\n", 0, 0, 0o644)
	must(t, os.Chtimes(p("etc/hostname"), oldMtime, oldMtime))

	must(t, os.Mkdir(p("tmp"), 0o755))
	must(t, unix.Chmod(p("tmp"), 0o1777))

	file("data/hardlink-a", "three names, one inode\n", 0, 0, 0o644)
	must(t, os.Link(p("data/hardlink-a"), p("data/hardlink-b")))
	must(t, os.Link(p("data/hardlink-a"), p("data/hardlink-c")))
	must(t, os.Symlink("hardlink-a", p("data/link-relative")))
	must(t, os.Symlink("/usr/bin/strata-suid", p("data/link-absolute")))
	must(t, os.Symlink("/nonexistent/strata-target", p("data/link-dangling")))

	must(t, unix.Mknod(p("dev/strata-char"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	must(t, unix.Chmod(p("dev/strata-char"), 0o666)) // mknod's mode went through the umask
	must(t, unix.Mknod(p("dev/strata-block"), unix.S_IFBLK|0o660, int(unix.Mkdev(8, 1))))
	must(t, os.Lchown(p("dev/strata-block"), 0, 6))
	must(t, unix.Chmod(p("dev/strata-block"), 0o660))
	must(t, unix.Mkfifo(p("data/fifo"), 0o640))
	must(t, unix.Chmod(p("data/fifo"), 0o640))

	f, err := os.Create(p("data/sparse"))
	must(t, err)
	_, err = f.WriteAt(sparseData, 32<<20)
	must(t, err)
	must(t, f.Truncate(64<<20))
	must(t, f.Close())

	file("data/"+longName, "long name\n", 0, 0, 0o644)

	must(t, os.Mkdir(p("home/strata-user"), 0o750))
	must(t, os.Lchown(p("home/strata-user"), 100000, 100000))
	must(t, unix.Chmod(p("home/strata-user"), 0o750))
	file("home/strata-user/file", "owned by a subordinate id\n", 100000, 100000, 0o600)
}
