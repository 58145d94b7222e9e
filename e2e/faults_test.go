package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// exampleRootfsTar is examples/debian.yaml's rootfs target as one tar
// (-o type=tar,dest=FILE), built once, for strata assemble to read.
var exampleRootfsTar = sync.OnceValues(func() (string, error) {
	out := filepath.Join(env.workDir, "example-rootfs.tar")
	log, err := strataBuild("examples/debian.yaml", "rootfs", "type=tar,dest="+out)
	if err != nil {
		return "", fmt.Errorf("strata build: %w\n%s", err, tail(log, 80))
	}
	return out, nil
})

// buildArgs are strataBuild's arguments, for a run the test signals.
func buildArgs(spec, target, out string) []string {
	return []string{"build", spec, "--target", target, "--progress", "plain", "--addr", env.buildkit,
		"--build-context", "strata-tools=" + env.tools, "--build-context", "os-base=" + env.base, "-o", out}
}

// faultCase is a command whose run is signalled while it writes its
// output.
type faultCase struct {
	args   []string
	dir    string   // where the output and its temporary files go
	finals []string // what must not exist after a kill
	ready  func(output string) bool
	// intact, when set, checks what the command must leave as it was.
	intact func(t *testing.T)
}

// TestKillMidway sends SIGINT, then SIGKILL, to each command that writes
// an artifact while it writes it, and then runs it again in the same
// place. After SIGINT the command exits with 130 and leaves neither its
// output nor a temporary file; after SIGKILL nothing is under a final
// name; the rerun succeeds beside what SIGKILL left.
func TestKillMidway(t *testing.T) {
	requireE2E(t)
	disk, err := exampleDisk()
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(t *testing.T) faultCase{
		"assemble": func(t *testing.T) faultCase {
			rootfs, err := exampleRootfsTar()
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			out := filepath.Join(dir, "disk.raw")
			return faultCase{
				args: []string{"assemble", "--rootfs", rootfs, "-o", out, "--size", "4GiB"},
				dir:  dir, finals: []string{out}, ready: writing(out),
			}
		},
		"add-layer in place": func(t *testing.T) faultCase {
			dir := t.TempDir()
			base := filepath.Join(dir, "disk.raw")
			copySparse(t, disk, base)
			tree := t.TempDir()
			randomFile(t, filepath.Join(tree, "opt/faults/blob"), 128)
			before := fileIdentity(t, base)
			return faultCase{
				args: []string{"add-layer", base, "--tree", tree, "-o", base},
				dir:  dir, ready: writing(base),
				intact: func(t *testing.T) {
					if got := fileIdentity(t, base); got != before {
						t.Errorf("the base was written: %s, was %s", got, before)
					}
				},
			}
		},
		"convert": func(t *testing.T) faultCase {
			dir := filepath.Join(t.TempDir(), "qemu")
			image := filepath.Join(dir, "disk.qcow2")
			return faultCase{
				args: []string{"convert", "--provider", "qemu", "--seed", "faults", "-o", dir, disk},
				dir:  dir, finals: []string{image, filepath.Join(dir, "manifest.json")}, ready: writing(image),
			}
		},
		"sysext": func(t *testing.T) faultCase {
			tree := t.TempDir()
			writeFileAll(t, filepath.Join(tree, "usr/lib/extension-release.d/extension-release.faults"), "ID=_any\n")
			randomFile(t, filepath.Join(tree, "usr/share/faults/blob"), 256)
			dir := t.TempDir()
			image := filepath.Join(dir, "faults.raw")
			return faultCase{
				args: []string{"sysext", "--tree", tree, "--name", "faults", "-o", image},
				dir:  dir, finals: []string{image, filepath.Join(dir, "SHA256SUMS")}, ready: writing(image),
			}
		},
		"build -o DIR": func(t *testing.T) faultCase {
			dir := t.TempDir()
			image := filepath.Join(dir, "disk.raw")
			return faultCase{
				args: buildArgs("examples/debian.yaml", "disk", dir),
				dir:  dir, finals: []string{image}, ready: writing(image, "copying /disk.raw to "),
			}
		},
		"build -o type=tar": func(t *testing.T) faultCase {
			dir := t.TempDir()
			tarball := filepath.Join(dir, "disk.tar")
			return faultCase{
				args: buildArgs("examples/debian.yaml", "disk", "type=tar,dest="+tarball),
				dir:  dir, finals: []string{tarball}, ready: writing(tarball),
			}
		},
	}
	for name, setup := range cases {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			c := setup(t)
			r := killMidway(t, syscall.SIGINT, c.ready, c.args...)
			checkInterrupted(t, r, c.dir, c.finals...)
			if c.intact != nil {
				c.intact(t)
			}
			r = killMidway(t, syscall.SIGKILL, c.ready, c.args...)
			checkKilled(t, r, c.finals...)
			if c.intact != nil {
				c.intact(t)
			}
			t.Logf("left by SIGKILL: %v", partials(t, c.dir))
			rerun(t, c.args, c.finals...)
			t.Logf("%s: two kills and a rerun in %s", name, time.Since(start).Round(time.Second))
		})
	}
}

// TestFullDisk writes a disk bigger than the tmpfs it goes to: the run
// fails, says the disk is full and where, and leaves nothing there.
func TestFullDisk(t *testing.T) {
	requireE2E(t)
	disk, err := exampleDisk()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("build -o DIR", func(t *testing.T) {
		dir := smallDisk(t, 64)
		out, err := run(30*time.Minute, env.repo, env.strata, buildArgs("examples/debian.yaml", "disk", dir)...)
		checkDiskFull(t, out+errText(err), err, dir, filepath.Join(dir, "disk.raw"))
	})
	t.Run("convert", func(t *testing.T) {
		dir := smallDisk(t, 64)
		out, err := run(10*time.Minute, env.repo, env.strata, "convert", "--provider", "openstack", "--format", "qcow2", "-o", dir, disk)
		checkDiskFull(t, out+errText(err), err, dir, filepath.Join(dir, "disk.qcow2"))
	})
}

// fileIdentity tells a file left alone from one written or replaced.
func fileIdentity(t *testing.T, path string) string {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fmt.Sprintf("inode %d, %d bytes, modified %s", st.Ino, fi.Size(), fi.ModTime().Format(time.RFC3339Nano))
}

func writeFileAll(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// errText is a run's error, which holds its stderr.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
