package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/strata-dev/strata/e2e/releaseserver"
)

// The tree also serves image tarballs for kubernetes.images, built here
// from the same pinned sources as the binaries:
//
//   - kube-proxy.tar, beside the binaries with its .sha256 and .sha512 as
//     dl.k8s.io publishes it, tagged registry.k8s.io/kube-proxy-amd64:vX.Y.Z
//     as upstream's is. It holds the real kube-proxy, built like kubelet from
//     the module e2e/k8stools pins, at /usr/local/bin/kube-proxy. It is not
//     upstream's image: upstream adds the binary to distroless-iptables,
//     this one to an empty base, so it runs `kube-proxy --version` but has
//     no iptables to program.
//   - pause-TAG.tar under /e2e-images/, a path of the fixture's own (no
//     project publishes a pause tarball), with a sha256sum-style .sha256.
//     It is registry.k8s.io/pause:TAG as build/pause in the pinned
//     k8s.io/kubernetes makes it (pause.c compiled static with the
//     Makefile's CFLAGS, stripped, on scratch, run as 65535), except that
//     Debian's gcc compiles it instead of the kube-cross image, so its bytes
//     are not upstream's.

// kubeProxyTool builds kube-proxy from the pin kubelet is built from, with
// the same flags. A tool of its own, cached apart, so adding it did not
// invalidate the kubelet build; the Go build cache shares the packages.
var kubeProxyTool = goTool{
	Name:     "kube-proxy",
	ModDir:   kubeTool.ModDir,
	Release:  kubeTool.Release,
	Packages: []string{"k8s.io/kubernetes/cmd/kube-proxy"},
	Flags:    kubeTool.Flags,
	LDFlags:  kubeLDFlags,
}

// imagesFixture is what the fixture's JSON line says about the pause image,
// whose place and name only the fixture knows; kube-proxy.tar sits at its
// upstream path (Release.KubeBinary("kube-proxy.tar")).
type imagesFixture struct {
	PausePath  string `json:"pausePath"`  // URL path of the tarball on the server
	PauseImage string `json:"pauseImage"` // the name it carries
}

// pauseBuild is build/pause of the pinned k8s.io/kubernetes, resolved.
type pauseBuild struct {
	source    string // pause.c in the module cache
	srcDigest string
	tag       string // the Makefile's TAG
	rev       string // stands for the Makefile's REV (git describe --contains)
	gcc       string // `gcc --version`, first line
}

// pauseCFlags are build/pause/Makefile's CFLAGS; VERSION is appended.
var pauseCFlags = []string{"-Os", "-Wall", "-Werror", "-static"}

var pauseTagLine = regexp.MustCompile(`(?m)^TAG \?= (\S+)$`)

// resolvePause finds pause.c and its tag in the module kube builds from.
// REV is `git describe --contains` in upstream's checkout; at the release
// tag that is the release version, which the module proxy tells.
func resolvePause(ctx context.Context, kube *goBuild) (*pauseBuild, error) {
	out, err := kube.goCmd(ctx, "mod", "download", "-json", kube.tool.Release+"@"+kube.release.Version).Output()
	if err != nil {
		return nil, fmt.Errorf("pause: go mod download %s: %w", kube.tool.Release, exitDetail(err))
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		return nil, fmt.Errorf("pause: go mod download %s gave no directory: %v", kube.tool.Release, err)
	}
	p := &pauseBuild{source: filepath.Join(mod.Dir, "build", "pause", "linux", "pause.c"), rev: kube.release.Version}
	src, err := os.ReadFile(p.source)
	if err != nil {
		return nil, fmt.Errorf("pause: %w", err)
	}
	sum := sha256.Sum256(src)
	p.srcDigest = hex.EncodeToString(sum[:])
	makefile, err := os.ReadFile(filepath.Join(mod.Dir, "build", "pause", "Makefile"))
	if err != nil {
		return nil, fmt.Errorf("pause: %w", err)
	}
	m := pauseTagLine.FindSubmatch(makefile)
	if m == nil {
		return nil, fmt.Errorf("pause: no \"TAG ?= ...\" line in build/pause/Makefile of %s %s", kube.tool.Release, kube.release.Version)
	}
	p.tag = string(m[1])
	gcc, err := exec.CommandContext(ctx, "gcc", "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("pause: gcc --version: %w (install gcc and libc6-dev: e2e/setup-host.sh)", exitDetail(err))
	}
	p.gcc, _, _ = strings.Cut(string(gcc), "\n")
	return p, nil
}

func (p *pauseBuild) cflags() []string {
	return append(append([]string(nil), pauseCFlags...), "-DVERSION=v"+p.tag+"-"+p.rev)
}

// image is the name the pause image carries, the one kubelet and
// containerd's sandbox_image use.
func (p *pauseBuild) image() string { return "registry.k8s.io/pause:" + p.tag }

// path is the tarball's URL path in the tree.
func (p *pauseBuild) path() string { return "/e2e-images/pause-" + p.tag + ".tar" }

func (p *pauseBuild) describe() string {
	return fmt.Sprintf("pause: %s sha256 %s\n  gcc: %s\n  cflags: %s\n", p.image(), p.srcDigest, p.gcc, strings.Join(p.cflags(), " "))
}

// compile builds the pause binary into dir as the Makefile does: gcc with
// its CFLAGS, then strip. It takes a second; the tree's cache covers it.
func (p *pauseBuild) compile(ctx context.Context, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	out := filepath.Join(dir, "pause")
	args := append(p.cflags(), "-o", out, p.source)
	for _, cmd := range []*exec.Cmd{exec.CommandContext(ctx, "gcc", args...), exec.CommandContext(ctx, "strip", out)} {
		if msg, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("pause: %s: %w\n%s", strings.Join(cmd.Args, " "), err, msg)
		}
	}
	log.Printf("pause %s: compiled %s", p.tag, p.source)
	return out, nil
}

// imageSources are the built inputs of the image tarballs.
type imageSources struct {
	kubeProxy string    // the kube-proxy binary
	pause     string    // the pause binary
	created   time.Time // the release's time, so the archives are stable
}

// writeImages lays out the image tarballs in the tree at dir.
func writeImages(dir string, rel releaseserver.Release, pause *pauseBuild, src imageSources) error {
	arch, _ := releaseImageTags("kube-proxy", rel.Kubernetes)
	proxy, err := place(dir, rel.KubeBinary("kube-proxy.tar"))
	if err != nil {
		return err
	}
	err = writeImageTar(proxy, imageSpec{
		Names:     []string{arch},
		Files:     []imageFile{{Path: "usr/local/bin/kube-proxy", Source: src.kubeProxy, Mode: 0o755}},
		Created:   src.created,
		CreatedBy: "strata e2e fixture: kube-proxy " + rel.Kubernetes + " built from the Go module proxy, on an empty base (upstream: distroless-iptables)",
	})
	if err != nil {
		return err
	}
	if err := writeChecksums(proxy, kubeChecksums); err != nil {
		return err
	}

	pauseTar, err := place(dir, pause.path())
	if err != nil {
		return err
	}
	err = writeImageTar(pauseTar, imageSpec{
		Names:      []string{pause.image()},
		Files:      []imageFile{{Path: "pause", Source: src.pause, Mode: 0o755}},
		Entrypoint: []string{"/pause"},
		User:       "65535:65535",
		Created:    src.created,
		CreatedBy:  "strata e2e fixture: pause.c of k8s.io/kubernetes " + rel.Kubernetes + " compiled with Debian's gcc " + strings.Join(pause.cflags(), " "),
	})
	if err != nil {
		return err
	}
	return writeChecksums(pauseTar, []checksumFile{{".sha256", sha256Algo, sumLines}})
}

// releaseImageTags are the name upstream's release tarball carries and the
// one kubeadm runs, for name at version.
func releaseImageTags(name, version string) (arch, kubeadm string) {
	return "registry.k8s.io/" + name + "-amd64:" + version, "registry.k8s.io/" + name + ":" + version
}

// images is what the fixture line reports about the images.
func (in *inputs) images() imagesFixture {
	return imagesFixture{PausePath: in.pause.path(), PauseImage: in.pause.image()}
}

// buildImages builds kube-proxy (cached like the other Go builds) and
// pause, then writes both tarballs into the tree.
func buildImages(ctx context.Context, cacheDir, work, tree string, rel releaseserver.Release, in *inputs) error {
	bin, err := in.kubeProxy.ensure(ctx, cacheDir)
	if err != nil {
		return err
	}
	pause, err := in.pause.compile(ctx, filepath.Join(work, "pause"))
	if err != nil {
		return err
	}
	return writeImages(tree, rel, in.pause, imageSources{
		kubeProxy: filepath.Join(bin, "kube-proxy"),
		pause:     pause,
		created:   in.kube.release.Time,
	})
}
