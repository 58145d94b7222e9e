package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// goTool is a set of commands built from the Go module proxy, pinned by one
// of the nested modules under e2e/k8stools. The module's go.mod and go.sum
// are the pin: e2e/k8stools/pin.sh moves Kubernetes to another release.
type goTool struct {
	// Name names the build in logs and in the cache.
	Name string
	// ModDir is the nested module, relative to the repository root.
	ModDir string
	// Release is the dependency whose version the commands report and the
	// tree serves them under.
	Release string
	// Packages are the commands to build; each lands under its last path
	// element.
	Packages []string
	// Flags are extra go build flags, the release builds' own.
	Flags []string
	// LDFlags returns the -ldflags value for the resolved release.
	LDFlags func(m module) string
}

// module is the part of `go list -m -json` the builds use.
type module struct {
	Path    string
	Version string
	Time    time.Time
	Origin  *struct{ Hash string }
}

// kubeTool builds kubelet, kubeadm and kubectl as hack/lib/golang.sh does
// for a release: static (CGO_ENABLED=0; upstream links kubelet with cgo,
// which a node image does not need), trimmed paths, stripped, and with the
// build tags of a non-debug build.
var kubeTool = goTool{
	Name:     "kubernetes",
	ModDir:   "e2e/k8stools",
	Release:  "k8s.io/kubernetes",
	Packages: []string{"k8s.io/kubernetes/cmd/kubelet", "k8s.io/kubernetes/cmd/kubeadm", "k8s.io/kubernetes/cmd/kubectl"},
	Flags:    []string{"-trimpath", "-tags=selinux,notest,grpcnotrace"},
	LDFlags:  kubeLDFlags,
}

// kubePreviousTool builds the same commands the same way at the release
// e2e/k8stools/previous pins, one patch release behind kubeTool's, so the
// e2e tier can bump kubernetes.version between two real releases. Its
// module requires the same versions of everything but Kubernetes, so the Go
// build cache compiles those once for both.
var kubePreviousTool = goTool{
	Name:     "kubernetes",
	ModDir:   "e2e/k8stools/previous",
	Release:  kubeTool.Release,
	Packages: kubeTool.Packages,
	Flags:    kubeTool.Flags,
	LDFlags:  kubeTool.LDFlags,
}

// crictlTool builds crictl as cri-tools' hack/release.sh does. It has a
// module of its own because its requirements (newer otel, grpc, ...) would
// otherwise raise the versions Kubernetes was released with.
var crictlTool = goTool{
	Name:     "crictl",
	ModDir:   "e2e/k8stools/crictl",
	Release:  "sigs.k8s.io/cri-tools",
	Packages: []string{"sigs.k8s.io/cri-tools/cmd/crictl"},
	Flags:    []string{"-trimpath"},
	LDFlags: func(m module) string {
		// `crictl --version` prints this as is; releases set it to the tag.
		return "-X sigs.k8s.io/cri-tools/pkg/version.Version=" + m.Version
	},
}

// kubeLDFlags stamps the version the way kube::version::ldflags does: the
// same variables in both k8s.io/component-base/version (read by kubelet
// --version, kubeadm version and kubectl's client version) and
// k8s.io/client-go/pkg/version (kubectl's user agent and version skew
// checks). buildDate is the release's commit time from the module proxy, so
// the stamp is the same on every machine. The proxy tells no commit hash
// for k8s.io/kubernetes; gitCommit is then left empty rather than carrying
// the unexpanded "$Format:%H$" placeholder.
func kubeLDFlags(m module) string {
	major, minor := "", ""
	if parts := strings.SplitN(strings.TrimPrefix(m.Version, "v"), ".", 3); len(parts) == 3 {
		major, minor = parts[0], parts[1]
	}
	commit := ""
	if m.Origin != nil {
		commit = m.Origin.Hash
	}
	vars := []struct{ name, value string }{
		{"gitVersion", m.Version},
		{"gitMajor", major},
		{"gitMinor", minor},
		{"gitCommit", commit},
		{"gitTreeState", "clean"},
		{"buildDate", m.Time.UTC().Format(time.RFC3339)},
	}
	var b strings.Builder
	for _, pkg := range []string{"k8s.io/client-go/pkg/version", "k8s.io/component-base/version"} {
		for _, v := range vars {
			fmt.Fprintf(&b, "-X '%s.%s=%s' ", pkg, v.name, v.value)
		}
	}
	// -s -w: a release build drops the symbol table and DWARF.
	b.WriteString("-s -w")
	return b.String()
}

// goBuild is a goTool resolved against its module: what exactly would be
// built, and the cache key of the result.
type goBuild struct {
	tool      goTool
	dir       string // absolute module directory
	release   module
	goVersion string
	goFlags   string // GOFLAGS from the environment, which go build obeys
	ldflags   string
	modDigest string // of go.mod and go.sum
}

// commonFlags go to every build. -buildvcs=false: the nested modules sit
// in strata's own checkout, whose commit would otherwise be stamped into
// the binaries, changing them with every strata commit while the key stays
// the same.
var commonFlags = []string{"-buildvcs=false"}

// flags are the go build flags other than -o and -ldflags.
func (b *goBuild) flags() []string {
	return append(slices.Clone(commonFlags), b.tool.Flags...)
}

// buildEnv is fixed so the host cannot change what gets built: the tree is
// linux/amd64, and static binaries run on any node image.
var buildEnv = []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOWORK=off"}

// resolve asks the go command about the tool's module.
func (t goTool) resolve(ctx context.Context, repo string) (*goBuild, error) {
	b := &goBuild{tool: t, dir: filepath.Join(repo, filepath.FromSlash(t.ModDir))}
	h := sha256.New()
	for _, name := range []string{"go.mod", "go.sum"} {
		data, err := os.ReadFile(filepath.Join(b.dir, name))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.Name, err)
		}
		fmt.Fprintf(h, "%s %d\n", name, len(data))
		h.Write(data)
	}
	b.modDigest = hex.EncodeToString(h.Sum(nil))

	out, err := b.goCmd(ctx, "list", "-m", "-json", t.Release).Output()
	if err != nil {
		return nil, fmt.Errorf("%s: go list -m %s: %w", t.Name, t.Release, exitDetail(err))
	}
	if err := json.Unmarshal(out, &b.release); err != nil {
		return nil, fmt.Errorf("%s: go list -m %s: %w", t.Name, t.Release, err)
	}
	if b.release.Version == "" || b.release.Time.IsZero() {
		return nil, fmt.Errorf("%s: go list -m %s gave no version or time", t.Name, t.Release)
	}
	out, err = b.goCmd(ctx, "env", "GOVERSION", "GOFLAGS").Output()
	if err != nil {
		return nil, fmt.Errorf("%s: go env: %w", t.Name, exitDetail(err))
	}
	lines := strings.SplitN(strings.TrimRight(string(out), "\n"), "\n", 2)
	b.goVersion = lines[0]
	if len(lines) > 1 {
		b.goFlags = lines[1]
	}
	b.ldflags = t.LDFlags(b.release)
	return b, nil
}

func (b *goBuild) goCmd(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = b.dir
	cmd.Env = append(os.Environ(), buildEnv...)
	return cmd
}

// describe renders what decides the binaries, for the cache key.
func (b *goBuild) describe() string {
	var s strings.Builder
	fmt.Fprintf(&s, "%s: %s@%s\n", b.tool.Name, b.tool.Release, b.release.Version)
	fmt.Fprintf(&s, "  go.mod+go.sum: %s\n", b.modDigest)
	fmt.Fprintf(&s, "  go: %s env %s GOFLAGS=%s\n", b.goVersion, strings.Join(buildEnv, " "), b.goFlags)
	fmt.Fprintf(&s, "  packages: %s\n", strings.Join(b.tool.Packages, " "))
	fmt.Fprintf(&s, "  flags: %s\n", strings.Join(b.flags(), " "))
	fmt.Fprintf(&s, "  ldflags: %s\n", b.ldflags)
	return s.String()
}

func (b *goBuild) key() string { return shortDigest(b.describe()) }

// ensure returns the directory holding the built commands, building them
// only when the cache under cacheDir lacks them. The Go builds are cached
// apart from the tree because they are by far the slowest part (minutes,
// against seconds for the rest): a new Debian package must not rebuild
// Kubernetes.
func (b *goBuild) ensure(ctx context.Context, cacheDir string) (string, error) {
	keyDir := filepath.Join(cacheDir, "gobuild", b.tool.Name+"-"+b.key())
	out := filepath.Join(keyDir, "bin")
	if err := os.MkdirAll(keyDir, 0o755); err != nil {
		return "", fmt.Errorf("%s: %w", b.tool.Name, err)
	}
	unlock, err := lockDir(keyDir)
	if err != nil {
		return "", err
	}
	defer unlock()
	removeLeftovers(keyDir)
	if _, err := os.Stat(out); err == nil {
		log.Printf("%s %s: cached in %s", b.tool.Name, b.release.Version, out)
		return out, nil
	}

	work, err := os.MkdirTemp(keyDir, ".build-")
	if err != nil {
		return "", fmt.Errorf("%s: %w", b.tool.Name, err)
	}
	defer os.RemoveAll(work)
	tmpOut := filepath.Join(work, "bin")

	args := append([]string{"build", "-o", tmpOut + string(filepath.Separator)}, b.flags()...)
	args = append(args, "-ldflags="+b.ldflags)
	args = append(args, b.tool.Packages...)
	log.Printf("%s %s: building %s (go %s); this takes a while", b.tool.Name, b.release.Version,
		strings.Join(b.tool.Packages, " "), b.goVersion)
	start := time.Now()
	cmd := b.goCmd(ctx, args...)
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: go build: %w", b.tool.Name, err)
	}
	// The release time rather than the build time, so the tree's files
	// carry the same times wherever they are built.
	for _, pkg := range b.tool.Packages {
		p := filepath.Join(tmpOut, execName(pkg))
		if err := os.Chtimes(p, b.release.Time, b.release.Time); err != nil {
			return "", fmt.Errorf("%s: %w", b.tool.Name, err)
		}
	}
	if err := writeFileAtomic(filepath.Join(keyDir, "inputs.txt"), []byte(b.describe()), 0o644); err != nil {
		return "", err
	}
	if err := os.Rename(tmpOut, out); err != nil {
		return "", fmt.Errorf("%s: %w", b.tool.Name, err)
	}
	log.Printf("%s %s: built in %s", b.tool.Name, b.release.Version, time.Since(start).Round(time.Second))
	return out, nil
}

// execName is the file go build -o DIR/ writes a command to: its last
// path element, or the one before a major version suffix, so
// go.etcd.io/etcd/server/v3 lands as "server".
func execName(pkg string) string {
	dir, elem := path.Split(pkg)
	if len(elem) > 1 && elem[0] == 'v' && strings.Trim(elem[1:], "0123456789") == "" && dir != "" {
		return path.Base(dir)
	}
	return elem
}

// releaseDir returns the module cache directory of the release the build
// is resolved against, downloading it if need be, for the files beside its
// Go code that the fixture reads (build/pause, kubeadm's constants).
func (b *goBuild) releaseDir(ctx context.Context) (string, error) {
	out, err := b.goCmd(ctx, "mod", "download", "-json", b.tool.Release+"@"+b.release.Version).Output()
	if err != nil {
		return "", fmt.Errorf("go mod download %s: %w", b.tool.Release, exitDetail(err))
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		return "", fmt.Errorf("go mod download %s gave no directory: %v", b.tool.Release, err)
	}
	return mod.Dir, nil
}

// exitDetail adds a failed command's stderr to its error.
func exitDetail(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(ee.Stderr) > 0 {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
	}
	return err
}
