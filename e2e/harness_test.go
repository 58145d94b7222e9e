package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The e2e tier runs against a real buildkitd and a real base image, so it is
// slow; it runs when STRATA_E2E=1 (as .ci/run sets it) and is skipped
// otherwise. The harness prepares what is missing itself: it starts
// buildkitd (e2e/buildkitd.sh) unless BUILDKIT_HOST is set, and makes the
// mmdebstrap base (e2e/cmd/mkbase, cached by its inputs) unless
// STRATA_OS_BASE names one, and the tools image unless STRATA_TOOLS does.
var env struct {
	repo      string // repository root
	buildkit  string // BUILDKIT_HOST
	base      string // oci-layout://...@sha256:... of the OS base
	tools     string // the same base plus the sysext tools: the strata-tools context
	strata    string // the static strata binary under test
	cacheDir  string
	workDir   string
	setupDone bool
}

func TestMain(m *testing.M) {
	if os.Getenv("STRATA_E2E") != "1" {
		fmt.Println("e2e: skipped (set STRATA_E2E=1 to run against a real buildkitd)")
		os.Exit(m.Run())
	}
	if err := setup(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup:", err)
		os.Exit(1)
	}
	space = watchFreeSpace()
	code := m.Run()
	fmt.Println(space.report())
	stopDaemons()
	os.RemoveAll(env.workDir)
	os.Exit(code)
}

// requireE2E skips a test outside the e2e tier. The buildx tier's tests
// come before, so their builders are released here (see bxTier).
func requireE2E(t *testing.T) {
	t.Helper()
	requireE2ETier(t)
	releaseBuildx(topLevel(t))
}

// requireE2ETier is requireE2E for the buildx tier's own tests.
func requireE2ETier(t *testing.T) {
	t.Helper()
	if !env.setupDone {
		t.Skip("e2e tier: set STRATA_E2E=1")
	}
	space.enter(t.Name())
}

func setup() error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	env.repo = filepath.Dir(wd)
	env.cacheDir = getenv("STRATA_CACHE", "/var/cache/strata-e2e")
	if env.workDir, err = os.MkdirTemp("", "strata-e2e-"); err != nil {
		return err
	}

	env.buildkit = os.Getenv("BUILDKIT_HOST")
	if env.buildkit == "" {
		out, err := run(10*time.Minute, env.repo, "e2e/buildkitd.sh", "start")
		if err != nil {
			return fmt.Errorf("starting buildkitd: %w", err)
		}
		env.buildkit = strings.TrimPrefix(lastLine(out), "export BUILDKIT_HOST=")
	}

	env.base = os.Getenv("STRATA_OS_BASE")
	if env.base == "" {
		out, err := run(20*time.Minute, env.repo, "go", "run", "./e2e/cmd/mkbase", "-cache", filepath.Join(env.cacheDir, "base"))
		if err != nil {
			return fmt.Errorf("making the OS base: %w", err)
		}
		env.base = lastLine(out)
	}
	env.tools = os.Getenv("STRATA_TOOLS")
	if env.tools == "" {
		out, err := run(20*time.Minute, env.repo, "go", "run", "./e2e/cmd/mkbase", "-cache", filepath.Join(env.cacheDir, "base"), "-include", toolsPackages)
		if err != nil {
			return fmt.Errorf("making the tools image: %w", err)
		}
		env.tools = lastLine(out)
	}

	env.strata = filepath.Join(env.workDir, "strata")
	if _, err := runEnv(5*time.Minute, env.repo, []string{"CGO_ENABLED=0"}, "go", "build", "-o", env.strata, "./cmd/strata"); err != nil {
		return fmt.Errorf("building strata: %w", err)
	}
	env.setupDone = true
	return nil
}

func getenv(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

func run(timeout time.Duration, dir string, name string, args ...string) (string, error) {
	return runEnv(timeout, dir, nil, name, args...)
}

// runEnv runs a command and returns its stdout; on failure the error holds
// stderr too, so a failing test shows why.
func runEnv(timeout time.Duration, dir string, extraEnv []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), extraEnv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w\n%s%s", name, strings.Join(args, " "), err, stdout.String(), tail(stderr.String(), 80))
	}
	return stdout.String(), nil
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = append([]string{"..."}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// toolsPackages turn the base into a tools environment: it has mke2fs
// already, and strata sysext needs these. e2e/test.sh passes the same list.
const toolsPackages = "squashfs-tools,erofs-utils"

// strataBuild runs `strata build` with the harness's buildkitd, base and
// tools image.
func strataBuild(specPath, target, out string, extra ...string) (string, error) {
	return strataBuildAt(env.buildkit, specPath, target, out, true, extra...)
}

// strataBuildWith can leave out the os-base context, for specs that name
// their base image themselves.
func strataBuildWith(specPath, target, out string, withBase bool, extra ...string) (string, error) {
	return strataBuildAt(env.buildkit, specPath, target, out, withBase, extra...)
}

// strataBuildAt builds with the buildkitd at addr.
func strataBuildAt(addr, specPath, target, out string, withBase bool, extra ...string) (string, error) {
	args := []string{"build", specPath, "--target", target, "--progress", "plain",
		"--addr", addr,
		"--build-context", "strata-tools=" + env.tools,
	}
	if withBase {
		args = append(args, "--build-context", "os-base="+env.base)
	}
	if out != "" {
		args = append(args, "-o", out)
	}
	args = append(args, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, env.strata, args...)
	cmd.Dir = env.repo
	var combined bytes.Buffer
	cmd.Stdout, cmd.Stderr = &combined, &combined
	start := time.Now()
	err := cmd.Run()
	fmt.Fprintf(&combined, "\n[e2e] strata build %s --target %s took %s\n", specPath, target, time.Since(start).Round(time.Second))
	if err != nil {
		fmt.Fprintf(&combined, "[e2e] the machine has %s free\n", gib(lowestFree()))
	}
	return combined.String(), err
}

// freshBuildkitd starts a buildkitd of the test's own on an empty state
// directory and returns its address. In its solve status "cached" then
// means cached by the test's own builds, never by whatever the shared
// daemon kept from earlier runs, so a test can require a step to run. It
// is stopped and its state removed when the test ends.
func freshBuildkitd(t *testing.T) string {
	t.Helper()
	d := newOwnBuildkitd(t)
	d.start()
	return d.addr
}

// stopBuildkitd stops the buildkitd freshBuildkitd started, waits for it to
// exit so its mounts are gone, and removes its state.
func stopBuildkitd(t *testing.T, state string, stateEnv []string) {
	pid := 0
	if b, err := os.ReadFile(filepath.Join(state, "buildkitd.pid")); err == nil {
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	if _, err := runEnv(time.Minute, env.repo, stateEnv, "e2e/buildkitd.sh", "stop"); err != nil {
		t.Errorf("stopping the test's buildkitd: %v", err)
	}
	for deadline := time.Now().Add(time.Minute); pid > 0 && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if syscall.Kill(pid, 0) != nil {
			pid = 0
		}
	}
	if pid > 0 {
		t.Errorf("the test's buildkitd (pid %d) did not exit; its state %s is left", pid, state)
		return
	}
	// A daemon killed mid-exec leaves its step running (runc's container
	// outlives it) and its snapshot mounted.
	killProcessesRootedIn(filepath.Join(state, "root"))
	unmountUnder(state)
	err := os.RemoveAll(state)
	for deadline := time.Now().Add(30 * time.Second); err != nil && time.Now().Before(deadline); err = os.RemoveAll(state) {
		time.Sleep(time.Second)
	}
	if err != nil {
		t.Errorf("removing the test's buildkitd state: %v", err)
	}
}

// unmountUnder unmounts every mount below dir, deepest first. `umount -R
// DIR` would not: it unmounts only a DIR that is itself a mount point.
func unmountUnder(dir string) {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return
	}
	var points []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], dir+"/") {
			points = append(points, f[1])
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(points)))
	for _, p := range points {
		syscall.Unmount(p, syscall.MNT_DETACH)
	}
}

// killProcessesRootedIn sends SIGKILL to every process whose root
// directory lies under dir: the containers of a killed buildkitd's steps.
func killProcessesRootedIn(dir string) {
	procs, _ := filepath.Glob("/proc/[0-9]*/root")
	for _, p := range procs {
		root, err := os.Readlink(p)
		if err != nil || !strings.HasPrefix(root, dir+"/") {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err == nil {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	time.Sleep(time.Second)
}
