package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The buildx tier runs the commands users run: `docker buildx build` and
// `docker buildx bake` with the remote driver, against buildkitds of its own
// that trust a loopback registry (distribution v3) over plain HTTP. The
// registry holds the frontend image, built from the repository's Dockerfile,
// and the shared build cache.

// daemon is a process the tier started; stop ends it.
type daemon struct {
	name string
	cmd  *exec.Cmd
	log  string
}

var daemons struct {
	sync.Mutex
	list []*daemon
}

// stopDaemons ends every daemon the tier started; TestMain calls it.
func stopDaemons() {
	daemons.Lock()
	defer daemons.Unlock()
	for _, d := range daemons.list {
		d.stop()
	}
	daemons.list = nil
}

// stop ends the daemon: SIGINT, then SIGKILL after 20 s.
func (d *daemon) stop() {
	if d.cmd.Process == nil || d.cmd.ProcessState != nil {
		return
	}
	_ = d.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = d.cmd.Process.Kill()
		<-done
	}
}

// daemonsSince returns the daemons started after the first n.
func daemonsSince(n int) []*daemon {
	daemons.Lock()
	defer daemons.Unlock()
	return append([]*daemon(nil), daemons.list[n:]...)
}

func daemonCount() int {
	daemons.Lock()
	defer daemons.Unlock()
	return len(daemons.list)
}

// forget drops ds from the daemons stopDaemons ends.
func forget(ds []*daemon) {
	daemons.Lock()
	defer daemons.Unlock()
	daemons.list = slices.DeleteFunc(daemons.list, func(d *daemon) bool { return slices.Contains(ds, d) })
}

func startDaemon(name, logPath string, bin string, args ...string) (*daemon, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	logf.Close()
	d := &daemon{name: name, cmd: cmd, log: logPath}
	daemons.Lock()
	daemons.list = append(daemons.list, d)
	daemons.Unlock()
	return d, nil
}

// waitFor polls ready until it succeeds, or fails with the daemon's log.
func (d *daemon) waitFor(ready func() error) error {
	var err error
	for i := 0; i < 120; i++ {
		if err = ready(); err == nil {
			return nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	log, _ := os.ReadFile(d.log)
	return fmt.Errorf("%s did not come up: %w\n%s", d.name, err, tail(string(log), 30))
}

// freePort asks the kernel for a loopback port nobody uses.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// toolBin builds a pinned tool set (e2e/tools.sh) and returns its directory.
func toolBin(name string) (string, error) {
	out, err := run(20*time.Minute, env.repo, "e2e/tools.sh", name)
	if err != nil {
		return "", err
	}
	return lastLine(out), nil
}

// startRegistry runs distribution's registry on a loopback port.
func startRegistry(bin, dir string) (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	addr := fmt.Sprintf("localhost:%d", port)
	config := filepath.Join(dir, "registry.yml")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(`version: 0.1
storage:
  filesystem:
    rootdirectory: %s
http:
  addr: 127.0.0.1:%d
log:
  level: warn
`, filepath.Join(dir, "registry-data"), port)), 0o644); err != nil {
		return "", err
	}
	d, err := startDaemon("registry", filepath.Join(dir, "registry.log"), filepath.Join(bin, "registry"), "serve", config)
	if err != nil {
		return "", err
	}
	return addr, d.waitFor(func() error {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
		}
		return err
	})
}

// startBuildkitd runs a buildkitd of the tier's own, with its own state, that
// reaches the registry over plain HTTP, as the setup says.
func startBuildkitd(bin, dir, name, registry string) (string, error) {
	state := filepath.Join(dir, name)
	if err := os.MkdirAll(state, 0o755); err != nil {
		return "", err
	}
	config := filepath.Join(state, "buildkitd.toml")
	host := strings.Replace(registry, "localhost", "127.0.0.1", 1)
	if err := os.WriteFile(config, []byte(fmt.Sprintf("[registry.%q]\n  http = true\n[registry.%q]\n  http = true\n", registry, host)), 0o644); err != nil {
		return "", err
	}
	sock := "unix://" + filepath.Join(state, "buildkitd.sock")
	d, err := startDaemon("buildkitd "+name, filepath.Join(state, "buildkitd.log"), filepath.Join(bin, "buildkitd"),
		"--config", config, "--oci-worker=true", "--containerd-worker=false", "--root", filepath.Join(state, "root"), "--addr", sock)
	if err != nil {
		return "", err
	}
	return sock, d.waitFor(func() error {
		_, err := run(10*time.Second, env.repo, filepath.Join(bin, "buildctl"), "--addr", sock, "debug", "workers")
		return err
	})
}

// bx is the tier's setup: registry, builder A, docker's config with the
// buildx plugin, and the frontend image built from the Dockerfile and
// pushed as bx.frontend.
type bxEnv struct {
	dir          string
	mu           sync.Mutex
	daemons      []*daemon // the registry and builders, for release
	registry     string
	buildkitBin  string
	dockerConfig string
	frontend     string // localhost:PORT/strata:test
	goImage      string // a golang image stand-in: the base plus the host's Go
	// builderB starts the second, empty builder once.
	builderB func() error
}

// bxTier holds the tier while its tests run. Its builders' state grows to
// some 14 GiB, so the first e2e test that is not a buildx test releases
// it (requireE2E); a buildx test after that starts it again.
var bxTier struct {
	sync.Mutex
	env  *bxEnv
	err  error
	up   bool
	user string // the buildx test that asked for it last
}

func bx(test string) (*bxEnv, error) {
	bxTier.Lock()
	defer bxTier.Unlock()
	bxTier.user = test
	if !bxTier.up {
		bxTier.env, bxTier.err = startBx()
		bxTier.up = true
	}
	return bxTier.env, bxTier.err
}

// topLevel is the name of the top-level test t belongs to.
func topLevel(t *testing.T) string {
	name, _, _ := strings.Cut(t.Name(), "/")
	return name
}

// releaseBuildx stops the tier's registry and builders and removes their
// state, if the tier is up and test is not the buildx test using it.
func releaseBuildx(test string) {
	bxTier.Lock()
	defer bxTier.Unlock()
	if !bxTier.up || test == bxTier.user {
		return
	}
	if e := bxTier.env; e != nil {
		e.mu.Lock()
		for _, d := range e.daemons {
			d.stop()
		}
		forget(e.daemons)
		e.mu.Unlock()
		before := lowestFree()
		killProcessesRootedIn(e.dir)
		unmountUnder(e.dir)
		_ = os.RemoveAll(e.dir)
		fmt.Printf("e2e: %s released the buildx tier, freeing %s\n", test, gib(lowestFree()-min(before, lowestFree())))
	}
	bxTier.env, bxTier.err, bxTier.up = nil, nil, false
}

func startBx() (*bxEnv, error) {
	e := &bxEnv{dir: filepath.Join(env.workDir, "buildx")}
	started := daemonCount()
	defer func() { e.daemons = daemonsSince(started) }()
	if err := os.MkdirAll(filepath.Join(e.dir, "docker", "cli-plugins"), 0o755); err != nil {
		return nil, err
	}
	var err error
	if e.buildkitBin, err = toolBin("buildkit"); err != nil {
		return nil, err
	}
	buildxBin, err := toolBin("buildx")
	if err != nil {
		return nil, err
	}
	regBin, err := toolBin("registry")
	if err != nil {
		return nil, err
	}
	e.dockerConfig = filepath.Join(e.dir, "docker")
	if err := os.Symlink(filepath.Join(buildxBin, "buildx"), filepath.Join(e.dockerConfig, "cli-plugins", "docker-buildx")); err != nil {
		return nil, err
	}
	if e.registry, err = startRegistry(regBin, e.dir); err != nil {
		return nil, err
	}
	if err := e.addBuilder("strata-a"); err != nil {
		return nil, err
	}
	e.builderB = sync.OnceValue(func() error {
		started := daemonCount()
		err := e.addBuilder("strata-b")
		e.mu.Lock()
		e.daemons = append(e.daemons, daemonsSince(started)...)
		e.mu.Unlock()
		return err
	})
	if e.goImage, err = goImage(); err != nil {
		return nil, err
	}
	e.frontend = e.registry + "/strata:test"
	log, err := e.docker("strata-a", "buildx", "build", "--progress", "plain",
		"--build-context", "golang:1.26.8-bookworm="+e.goImage,
		"--build-context", "debian:12.11-slim="+env.base,
		"--target", "frontend", "--tag", e.frontend, "--push", ".")
	if err != nil {
		return nil, fmt.Errorf("building the frontend image from the Dockerfile: %w\n%s", err, tail(log, 40))
	}
	return e, nil
}

// addBuilder starts a buildkitd and registers it with buildx's remote
// driver under name.
func (e *bxEnv) addBuilder(name string) error {
	sock, err := startBuildkitd(e.buildkitBin, e.dir, name, e.registry)
	if err != nil {
		return err
	}
	if out, err := e.docker("", "buildx", "create", "--name", name, "--driver", "remote", sock); err != nil {
		return fmt.Errorf("buildx create: %w\n%s", err, out)
	}
	return nil
}

// goImage is a stand-in for the official golang image the Dockerfile
// builds in: the Debian base with the host's Go toolchain and CA bundle
// (module downloads go through the host's TLS proxy).
func goImage() (string, error) {
	goroot, err := run(time.Minute, env.repo, "go", "env", "GOROOT")
	if err != nil {
		return "", err
	}
	out, err := run(20*time.Minute, env.repo, "go", "run", "./e2e/cmd/mkbase", "-cache", filepath.Join(env.cacheDir, "base"),
		"-include", "ca-certificates", "-goroot", strings.TrimSpace(goroot), "-host-ca")
	if err != nil {
		return "", fmt.Errorf("making the golang stand-in: %w", err)
	}
	return lastLine(out), nil
}

// docker runs the docker CLI (a client only; buildx talks to buildkitd
// directly) with the tier's config and, when builder is set, that builder.
func (e *bxEnv) docker(builder string, args ...string) (string, error) {
	return e.dockerEnv(builder, nil, args...)
}

// dockerEnv is docker with extra environment, e.g. bake variables.
func (e *bxEnv) dockerEnv(builder string, environ []string, args ...string) (string, error) {
	extra := append([]string{"DOCKER_CONFIG=" + e.dockerConfig}, environ...)
	if builder != "" {
		extra = append(extra, "BUILDX_BUILDER="+builder)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Dir = env.repo
	cmd.Env = append(os.Environ(), extra...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func requireBuildx(t *testing.T) *bxEnv {
	t.Helper()
	requireE2ETier(t)
	e, err := bx(topLevel(t))
	if err != nil {
		t.Fatal(err)
	}
	return e
}
