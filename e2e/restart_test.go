package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestBuildkitdKilledMidBuild kills buildkitd with SIGKILL while the
// example node's OS layer is half built, starts it again on the same state
// and builds again: the rebuild succeeds, and the OS steps that had
// finished before the kill come from the cache rather than running again.
func TestBuildkitdKilledMidBuild(t *testing.T) {
	r, srv := requireRelease(t)
	d := newOwnBuildkitd(t)
	d.start()
	out := filepath.Join(t.TempDir(), "out")
	args := append(versionArgs(r, srv.URL()), "--progress", "rawjson")

	// The kill lands while the second OS step runs: the first has just
	// finished, the rest of the graph has not.
	first := "[os 1/"
	build := startStrataBuild(t, d.addr, reproSpec, "disk", out, args...)
	if !build.waitForCompleted(first, 20*time.Minute) {
		build.wait()
		t.Fatalf("the build never finished a %q step:\n%s", first, tail(build.output(), 40))
	}
	// BuildKit reports a step complete before its cache record is on disk:
	// killed within that moment (a suite run caught it), the step runs
	// again after the restart. Seconds later it is kept.
	time.Sleep(5 * time.Second)
	d.kill()
	if err := build.wait(); err == nil {
		t.Fatalf("the build succeeded although its buildkitd was killed midway:\n%s", tail(build.output(), 20))
	}
	if _, err := os.Stat(filepath.Join(out, "disk.raw")); err == nil {
		t.Error("the killed build left disk.raw")
	}
	finished := vertexCache(build.output())
	if _, ok := finished["[disk os] assemble disk.raw (6GiB, uefi)"]; ok {
		t.Fatal("the disk was assembled before the kill: it did not land midway")
	}

	d.start()
	log, err := strataBuildAt(d.addr, reproSpec, "disk", out, true, args...)
	if err != nil {
		t.Fatalf("the rebuild after a restart: %v\n%s", err, tail(log, 40))
	}
	again := vertexCache(log)
	reused := 0
	for name := range finished {
		if !strings.HasPrefix(name, first) {
			continue
		}
		if reused++; !again[name] {
			t.Errorf("%q finished before the kill and ran again after the restart", name)
		}
	}
	if reused == 0 {
		t.Errorf("no %q step in the killed build's status to look for after the restart", first)
	}
	if _, err := os.Stat(filepath.Join(out, "disk.raw")); err != nil {
		t.Errorf("the rebuild left no disk.raw: %v", err)
	}
}

// TestConcurrentBuilds builds four different specs at once against one
// buildkitd that starts empty, so they contend for the same package cache
// mounts and share the OS steps they have in common; then builds each
// alone. Every build succeeds, and each disk is byte-identical to the one
// built alone.
func TestConcurrentBuilds(t *testing.T) {
	r, srv := requireRelease(t)
	const epoch = "--build-arg=SOURCE_DATE_EPOCH=1700000000"
	specs := []struct {
		path string
		args []string
	}{
		{"examples/debian.yaml", nil},
		{reproSpec, versionArgs(r, srv.URL())},
		{k8sSpec, versionArgs(r, srv.URL())},
		{imagesSpec, imagesArgs(r, srv.URL())}, // its pause URL is set below
	}
	images, err := imagesSpecFor(t, r, srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	specs[3].path = images
	fresh := newOwnBuildkitd(t)
	fresh.start()
	addr := fresh.addr
	dir := t.TempDir()
	outDir := func(mode string, i int) string { return filepath.Join(dir, fmt.Sprintf("%s-%d", mode, i)) }

	var wg sync.WaitGroup
	errs := make([]error, len(specs))
	logs := make([]string, len(specs))
	for i, s := range specs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			logs[i], errs[i] = strataBuildAt(addr, s.path, "disk", outDir("concurrent", i), true, append(s.args, epoch)...)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("%s, built with three others: %v\n%s", specs[i].path, err, tail(logs[i], 30))
		}
	}
	if t.Failed() {
		return
	}
	// Four disks and the daemon that built them hold some 18 GiB: only
	// their sums are kept for the builds alone.
	together := make([]string, len(specs))
	for i := range specs {
		together[i] = fileSums(t, outDir("concurrent", i))["disk.raw"]
		removeAll(t, outDir("concurrent", i))
	}
	fresh.stop()
	for i, s := range specs {
		log, err := strataBuildAt(env.buildkit, s.path, "disk", outDir("alone", i), true, append(s.args, epoch)...)
		if err != nil {
			t.Fatalf("%s alone: %v\n%s", s.path, err, tail(log, 30))
		}
		alone := fileSums(t, outDir("alone", i))["disk.raw"]
		removeAll(t, outDir("alone", i))
		if together[i] == "" || together[i] != alone {
			t.Errorf("%s: disk.raw built with three others has sha256 %q, built alone %q", s.path, together[i], alone)
		}
	}
}

func removeAll(t *testing.T, dir string) {
	t.Helper()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
}

// ownBuildkitd is a buildkitd of the test's own that it can kill and start
// again on the same state.
type ownBuildkitd struct {
	t     *testing.T
	state string
	env   []string
	addr  string
}

// newOwnBuildkitd makes an empty state directory; the daemon is stopped
// and the state removed when the test ends.
func newOwnBuildkitd(t *testing.T) *ownBuildkitd {
	t.Helper()
	// Not under /tmp: snapshots need a filesystem overlayfs can stack on.
	state, err := os.MkdirTemp("/var/tmp", "strata-e2e-bk-")
	if err != nil {
		t.Fatal(err)
	}
	d := &ownBuildkitd{t: t, state: state, env: []string{"STRATA_BUILDKIT_STATE=" + state}}
	t.Cleanup(func() { stopBuildkitd(t, state, d.env) })
	return d
}

// stop stops the daemon and removes its state before the test ends.
func (d *ownBuildkitd) stop() {
	d.t.Helper()
	stopBuildkitd(d.t, d.state, d.env)
}

func (d *ownBuildkitd) start() {
	d.t.Helper()
	out, err := runEnv(10*time.Minute, env.repo, d.env, "e2e/buildkitd.sh", "start")
	if err != nil {
		d.t.Fatalf("starting a buildkitd of the test's own: %v", err)
	}
	d.addr = strings.TrimPrefix(lastLine(out), "export BUILDKIT_HOST=")
}

// kill sends SIGKILL, as an OOM killer or a lost machine would, and waits
// for the daemon to be gone.
func (d *ownBuildkitd) kill() {
	d.t.Helper()
	b, err := os.ReadFile(filepath.Join(d.state, "buildkitd.pid"))
	if err != nil {
		d.t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		d.t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		d.t.Fatalf("killing buildkitd %d: %v", pid, err)
	}
	for deadline := time.Now().Add(time.Minute); syscall.Kill(pid, 0) == nil; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			d.t.Fatalf("buildkitd %d is still there a minute after SIGKILL", pid)
		}
	}
}

// runningBuild is a strata build whose output the test reads as it comes.
type runningBuild struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	seen chan string
	done chan error
}

func startStrataBuild(t *testing.T, addr, specPath, target, out string, extra ...string) *runningBuild {
	t.Helper()
	args := []string{"build", specPath, "--target", target, "--addr", addr,
		"--build-context", "strata-tools=" + env.tools, "--build-context", "os-base=" + env.base, "-o", out}
	cmd := exec.CommandContext(context.Background(), env.strata, append(args, extra...)...)
	cmd.Dir = env.repo
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	b := &runningBuild{cmd: cmd, seen: make(chan string, 1024), done: make(chan error, 1)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			b.mu.Lock()
			b.out.WriteString(sc.Text() + "\n")
			b.mu.Unlock()
			select {
			case b.seen <- sc.Text():
			default:
			}
		}
	}()
	go func() {
		err := cmd.Wait()
		pw.Close()
		b.done <- err
	}()
	t.Cleanup(func() { cmd.Process.Kill() })
	return b
}

// waitForCompleted reports whether the rawjson status shows a vertex
// whose name starts with prefix completed without error, before the build
// ends or the timeout passes. Names alone prove nothing: BuildKit lists
// every vertex of a solve before it starts any.
func (b *runningBuild) waitForCompleted(prefix string, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for {
		select {
		case line := <-b.seen:
			if completedIn(line, prefix) {
				return true
			}
		case err := <-b.done:
			b.done <- err
			return false
		case <-deadline:
			return false
		}
	}
}

func completedIn(statusLine, prefix string) bool {
	var status struct {
		Vertexes []struct {
			Name      string     `json:"name"`
			Completed *time.Time `json:"completed"`
			Error     string     `json:"error"`
		} `json:"vertexes"`
	}
	if json.Unmarshal([]byte(statusLine), &status) != nil {
		return false
	}
	for _, v := range status.Vertexes {
		if strings.HasPrefix(v.Name, prefix) && v.Completed != nil && v.Error == "" {
			return true
		}
	}
	return false
}

func (b *runningBuild) wait() error {
	err := <-b.done
	b.done <- err
	return err
}

func (b *runningBuild) output() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.out.String()
}
