package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/strata-dev/strata/exporters/atomicfile"
)

// lockedBuffer is a command's output, read while the command writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// interrupted is a strata command run until a signal stopped it.
type interrupted struct {
	exitCode int
	signaled bool // the process died of the signal itself
	output   string
	took     time.Duration // from the signal to the exit
}

// killMidway runs strata with args and sends sig as soon as ready says
// the output is being written. It fails the test if the command ends
// before that: a kill after completion proves nothing.
func killMidway(t *testing.T, sig syscall.Signal, ready func(output string) bool, args ...string) interrupted {
	t.Helper()
	cmd := exec.Command(env.strata, args...)
	cmd.Dir = env.repo
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.After(30 * time.Minute)
	for !ready(out.String()) {
		select {
		case err := <-done:
			t.Fatalf("strata %s ended (%v) before its output was being written: no kill could land midway\n%s",
				strings.Join(args, " "), err, tail(out.String(), 40))
		case <-deadline:
			_ = cmd.Process.Kill()
			t.Fatalf("strata %s: its output never began\n%s", strings.Join(args, " "), tail(out.String(), 40))
		case <-time.After(2 * time.Millisecond):
		}
	}
	sent := time.Now()
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("strata %s did not exit within 2 minutes of %v\n%s", strings.Join(args, " "), sig, tail(out.String(), 40))
	}
	r := interrupted{output: out.String(), took: time.Since(sent)}
	var exit *exec.ExitError
	switch {
	case err == nil:
		t.Fatalf("strata %s exited 0 after %v: it had finished, so the kill was not midway\n%s", strings.Join(args, " "), sig, tail(r.output, 40))
	case errors.As(err, &exit):
		r.exitCode = exit.ExitCode()
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			r.signaled = ws.Signal() == sig
		}
	default:
		t.Fatal(err)
	}
	t.Logf("strata %s: %v landed midway; exit %d after %s", args[0], sig, r.exitCode, r.took.Round(time.Millisecond))
	return r
}

// partials are the temporary files and directories strata makes, in dir
// and the directories under it.
func partials(t *testing.T, dir string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.Contains(d.Name(), atomicfile.Marker) {
			found = append(found, p)
			if d.IsDir() {
				return filepath.SkipDir
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return found
}

// writing is a ready function: a temporary file for final exists and
// holds data, and the output says whatever else is given.
func writing(final string, say ...string) func(string) bool {
	prefix := "." + filepath.Base(final) + atomicfile.Marker
	return func(output string) bool {
		for _, s := range say {
			if !strings.Contains(output, s) {
				return false
			}
		}
		matches, _ := filepath.Glob(filepath.Join(filepath.Dir(final), prefix+"*"))
		for _, m := range matches {
			if fi, err := os.Stat(m); err == nil && fi.Mode().IsRegular() && fi.Size() > 0 {
				return true
			}
		}
		return false
	}
}

// checkInterrupted requires what SIGINT must leave: an exit status of 130
// and the interruption said, no file under the final names and no
// temporary file in dir.
func checkInterrupted(t *testing.T, r interrupted, dir string, finals ...string) {
	t.Helper()
	if r.exitCode != 130 || !strings.Contains(r.output, "strata: interrupted") {
		t.Errorf("after SIGINT: exit %d (want 130), output:\n%s", r.exitCode, tail(r.output, 20))
	}
	checkNoFinal(t, "SIGINT", finals...)
	if left := partials(t, dir); len(left) > 0 {
		t.Errorf("after SIGINT, temporary files stayed: %v", left)
	}
}

// checkKilled requires what SIGKILL must leave: no file under the final
// names (a temporary file may stay).
func checkKilled(t *testing.T, r interrupted, finals ...string) {
	t.Helper()
	if !r.signaled {
		t.Errorf("SIGKILL: the process was not killed by it (exit %d)", r.exitCode)
	}
	checkNoFinal(t, "SIGKILL", finals...)
}

func checkNoFinal(t *testing.T, after string, finals ...string) {
	t.Helper()
	for _, f := range finals {
		if fi, err := os.Lstat(f); err == nil {
			t.Errorf("after %s, %s exists (%d bytes): a partial artifact under its final name", after, f, fi.Size())
		}
	}
}

// rerun runs strata with args to the end, which must succeed and write
// finals, beside whatever a killed run left.
func rerun(t *testing.T, args []string, finals ...string) {
	t.Helper()
	if out, err := run(30*time.Minute, env.repo, env.strata, args...); err != nil {
		t.Fatalf("rerun after the kills: %v\n%s", err, out)
	}
	for _, f := range finals {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("rerun: %v", err)
		}
	}
}

// smallDisk mounts a tmpfs of size MiB at a new directory, for a test
// that fills it; it is unmounted when the test ends.
func smallDisk(t *testing.T, mib int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%dm", mib), "strata-e2e-full", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", dir, err, out)
		}
	})
	return dir
}

// checkDiskFull requires a failed run that says the disk is full, names
// the output, and left nothing in dir.
func checkDiskFull(t *testing.T, out string, err error, dir, final string) {
	t.Helper()
	if err == nil {
		t.Fatalf("writing %s to a full disk succeeded\n%s", final, tail(out, 20))
	}
	if !strings.Contains(out, "the disk is full") || !strings.Contains(out, final) {
		t.Errorf("the error does not say the disk holding %s is full:\n%s", final, tail(out, 20))
	}
	t.Logf("on a full disk: %s", tail(strings.TrimSpace(out), 3))
	entries, rerr := os.ReadDir(dir)
	if rerr != nil {
		t.Fatal(rerr)
	}
	if len(entries) > 0 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("a failed run on a full disk left %v in %s", names, dir)
	}
}

// copySparse copies a disk image, keeping its holes.
func copySparse(t *testing.T, src, dst string) {
	t.Helper()
	if out, err := exec.Command("cp", "--sparse=always", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp %s: %v\n%s", src, err, out)
	}
}

// randomFile writes n MiB that do not compress.
func randomFile(t *testing.T, path string, mib int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("dd", "if=/dev/urandom", "of="+path, "bs=1M", "count="+fmt.Sprint(mib), "status=none").CombinedOutput(); err != nil {
		t.Fatalf("dd: %v\n%s", err, out)
	}
}
