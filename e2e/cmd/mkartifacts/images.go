package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/strata-dev/strata/e2e/releaseserver"
)

// The tree also serves image tarballs for kubernetes.images, built here
// from the same pinned sources as the binaries: the whole control plane
// `kubeadm config images list` names for the release, so that kubeadm init
// runs offline. Each holds the real program, at the version upstream's
// image of that name holds; none is upstream's image, and each says so in
// its history entry:
//
//   - kube-apiserver.tar, kube-controller-manager.tar, kube-scheduler.tar
//     and kube-proxy.tar, beside the binaries with their .sha256 and .sha512
//     as dl.k8s.io publishes them, tagged registry.k8s.io/NAME-amd64:vX.Y.Z
//     as upstream's are. Each holds its command at /usr/local/bin/NAME,
//     built like kubelet: kube-proxy from the module e2e/k8stools pins, the
//     others from e2e/k8stools/controlplane, which pins the same release.
//     Upstream adds kube-proxy to distroless-iptables and the others to
//     go-runner (distroless, with /go-runner as the entrypoint); these add
//     each to an empty base with no entrypoint. kubeadm's static pods name
//     the command, so the control plane runs as upstream's does; kube-proxy
//     has no iptables to program.
//   - pause-TAG.tar under /e2e-images/, a path of the fixture's own (no
//     project publishes a pause tarball), with a sha256sum-style .sha256.
//     It is registry.k8s.io/pause:TAG as build/pause in the pinned
//     k8s.io/kubernetes makes it (pause.c compiled static with the
//     Makefile's CFLAGS, stripped, on scratch, run as 65535), except that
//     Debian's gcc compiles it instead of the kube-cross image, so its bytes
//     are not upstream's.
//   - etcd-TAG.tar under /e2e-images/, with a .sha256 as pause's:
//     registry.k8s.io/etcd:TAG, TAG being the one kubeadm's constants name
//     for the release's minor (3.6.8-0: etcd 3.6.8, image revision 0). It
//     holds etcd of that version, built from e2e/k8stools/etcd, at
//     /usr/local/bin/etcd, which the image's PATH reaches as the static
//     pod's `etcd` command needs. Upstream's holds etcdctl and etcdutl too,
//     and its migration helper, on distroless; this one holds etcd alone,
//     which is all kubeadm runs (it talks to etcd through the client
//     library and probes it over HTTP, never execs etcdctl in the pod).
//   - coredns-VERSION.tar under /e2e-images/, with a .sha256 as pause's:
//     registry.k8s.io/coredns/coredns:VERSION, kubeadm's CoreDNSVersion,
//     built from e2e/k8stools/coredns, at /coredns with ENTRYPOINT
//     ["/coredns"], as kubeadm's Deployment passes only arguments.
//     Upstream's runs as nonroot on distroless's nonroot base, and binds
//     port 53 through the file capability cap_net_bind_service=+ep; the
//     layers here carry no xattrs, so this one runs as root, which the
//     NET_BIND_SERVICE kubeadm's Deployment keeps (dropping the rest) lets
//     bind it. It has no CA certificates, which only forwarding over TLS
//     would use.

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

// releaseImages are the images served beside the release's binaries, as
// dl.k8s.io serves them, each with the base upstream adds its command to.
var releaseImages = []struct{ name, upstreamBase string }{
	{"kube-apiserver", "go-runner"},
	{"kube-controller-manager", "go-runner"},
	{"kube-scheduler", "go-runner"},
	{"kube-proxy", "distroless-iptables"},
}

// imagesFixture is what the fixture's JSON line says about the images
// under /e2e-images/, whose places and names only the fixture knows; the
// release images sit at their upstream paths
// (Release.KubeBinary("kube-proxy.tar")).
type imagesFixture struct {
	PausePath    string `json:"pausePath"`  // URL path of the tarball on the server
	PauseImage   string `json:"pauseImage"` // the name it carries
	EtcdPath     string `json:"etcdPath"`
	EtcdImage    string `json:"etcdImage"`
	CorednsPath  string `json:"corednsPath"`
	CorednsImage string `json:"corednsImage"`
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
	modDir, err := kube.releaseDir(ctx)
	if err != nil {
		return nil, fmt.Errorf("pause: %w", err)
	}
	p := &pauseBuild{source: filepath.Join(modDir, "build", "pause", "linux", "pause.c"), rev: kube.release.Version}
	src, err := os.ReadFile(p.source)
	if err != nil {
		return nil, fmt.Errorf("pause: %w", err)
	}
	sum := sha256.Sum256(src)
	p.srcDigest = hex.EncodeToString(sum[:])
	makefile, err := os.ReadFile(filepath.Join(modDir, "build", "pause", "Makefile"))
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

// imageSources are the built binaries the image tarballs hold.
type imageSources struct {
	release map[string]string // by releaseImages name
	pause   string
	etcd    string
	coredns string
}

// treeImage is one image tarball in the tree.
type treeImage struct {
	Path string // URL path
	Spec imageSpec
	Sums []checksumFile
}

// e2eImageSums are the checksum files of the images under /e2e-images/.
var e2eImageSums = []checksumFile{{".sha256", sha256Algo, sumLines}}

// treeImages lists the tarballs the tree serves for the binaries in src.
// Each image's time is its own release's, so the archives are stable.
func (in *inputs) treeImages(rel releaseserver.Release, src imageSources) []treeImage {
	var imgs []treeImage
	for _, ri := range releaseImages {
		arch, _ := releaseImageTags(ri.name, rel.Kubernetes)
		imgs = append(imgs, treeImage{
			Path: rel.KubeBinary(ri.name + ".tar"),
			Spec: imageSpec{
				Names:   []string{arch},
				Files:   []imageFile{{Path: "usr/local/bin/" + ri.name, Source: src.release[ri.name], Mode: 0o755}},
				Created: in.kube.release.Time,
				CreatedBy: "strata e2e fixture: " + ri.name + " " + rel.Kubernetes +
					" built from the Go module proxy, on an empty base (upstream: " + ri.upstreamBase + ")",
			},
			Sums: kubeChecksums,
		})
	}
	imgs = append(imgs, treeImage{
		Path: in.pause.path(),
		Spec: imageSpec{
			Names:      []string{in.pause.image()},
			Files:      []imageFile{{Path: "pause", Source: src.pause, Mode: 0o755}},
			Entrypoint: []string{"/pause"},
			User:       "65535:65535",
			Created:    in.kube.release.Time,
			CreatedBy:  "strata e2e fixture: pause.c of k8s.io/kubernetes " + rel.Kubernetes + " compiled with Debian's gcc " + strings.Join(in.pause.cflags(), " "),
		},
		Sums: e2eImageSums,
	}, treeImage{
		Path: in.kubeadm.etcdPath(),
		Spec: imageSpec{
			Names:   []string{in.kubeadm.etcdImage()},
			Files:   []imageFile{{Path: "usr/local/bin/etcd", Source: src.etcd, Mode: 0o755}},
			Created: in.etcd.release.Time,
			CreatedBy: "strata e2e fixture: etcd " + in.etcd.release.Version +
				" built from the Go module proxy, alone on an empty base (upstream: etcd, etcdctl, etcdutl and migrate on distroless)",
		},
		Sums: e2eImageSums,
	}, treeImage{
		Path: in.kubeadm.corednsPath(),
		Spec: imageSpec{
			Names:      []string{in.kubeadm.corednsImage()},
			Files:      []imageFile{{Path: "coredns", Source: src.coredns, Mode: 0o755}},
			Entrypoint: []string{"/coredns"},
			Created:    in.coredns.release.Time,
			CreatedBy: "strata e2e fixture: CoreDNS " + in.coredns.release.Version +
				" built from the Go module proxy, on an empty base, as root (upstream: distroless nonroot, cap_net_bind_service file capability)",
		},
		Sums: e2eImageSums,
	})
	return imgs
}

// writeImages writes the image tarballs and their checksum files into the
// tree at dir.
func writeImages(dir string, imgs []treeImage) error {
	for _, img := range imgs {
		dst, err := place(dir, img.Path)
		if err != nil {
			return err
		}
		if err := writeImageTar(dst, img.Spec); err != nil {
			return err
		}
		if err := writeChecksums(dst, img.Sums); err != nil {
			return err
		}
	}
	return nil
}

// releaseImageTags are the name upstream's release tarball carries and the
// one kubeadm runs, for name at version.
func releaseImageTags(name, version string) (arch, kubeadm string) {
	return "registry.k8s.io/" + name + "-amd64:" + version, "registry.k8s.io/" + name + ":" + version
}

// images is what the fixture line reports about the images.
func (in *inputs) images() imagesFixture {
	return imagesFixture{
		PausePath:    in.pause.path(),
		PauseImage:   in.pause.image(),
		EtcdPath:     in.kubeadm.etcdPath(),
		EtcdImage:    in.kubeadm.etcdImage(),
		CorednsPath:  in.kubeadm.corednsPath(),
		CorednsImage: in.kubeadm.corednsImage(),
	}
}

// buildImages builds the images' Go commands (cached like the other Go
// builds) and pause, then writes the tarballs into the tree.
func buildImages(ctx context.Context, cacheDir, work, tree string, rel releaseserver.Release, in *inputs) error {
	src := imageSources{release: map[string]string{}}
	for _, b := range []*goBuild{in.kubeProxy, in.controlPlane} {
		dir, err := b.ensure(ctx, cacheDir)
		if err != nil {
			return err
		}
		for _, pkg := range b.tool.Packages {
			src.release[execName(pkg)] = filepath.Join(dir, execName(pkg))
		}
	}
	for _, c := range []struct {
		b   *goBuild
		bin *string
	}{{in.etcd, &src.etcd}, {in.coredns, &src.coredns}} {
		dir, err := c.b.ensure(ctx, cacheDir)
		if err != nil {
			return err
		}
		*c.bin = filepath.Join(dir, execName(c.b.tool.Packages[0]))
	}
	var err error
	if src.pause, err = in.pause.compile(ctx, filepath.Join(work, "pause")); err != nil {
		return err
	}
	return writeImages(tree, in.treeImages(rel, src))
}
