// Command mkartifacts builds the Kubernetes release fixture for the e2e
// tests: a directory tree laid out like the upstream downloads with the
// hosts dropped, which e2e/releaseserver serves as kubernetes.source.
//
//	go run ./e2e/cmd/mkartifacts -cache /var/cache/strata-e2e/artifacts
//
// Every binary is real. kubelet, kubeadm and kubectl are built from the Go
// module proxy at the release e2e/k8stools pins and at the previous one
// e2e/k8stools/previous pins (so a test can bump kubernetes.version), crictl
// at the release e2e/k8stools/crictl pins; containerd, runc and the CNI
// plugins come from Debian's packages, repacked as their projects publish
// them. Each artifact has its project's checksum files, in its project's
// format.
//
// The tree also serves image tarballs for kubernetes.images: every image
// kubeadm of the pinned release pulls for `kubeadm init`, so a node built
// from the tree needs no registry. kube-apiserver.tar,
// kube-controller-manager.tar, kube-scheduler.tar and kube-proxy.tar sit
// beside the binaries, as upstream publishes them; pause, etcd and CoreDNS,
// which no release publishes as tarballs, sit under /e2e-images/. etcd and
// CoreDNS are built at the versions kubeadm's constants name, which their
// modules (e2e/k8stools/etcd, e2e/k8stools/coredns) must pin: a mismatch
// fails the run. All are stand-ins holding the real programs;
// images.go says how far each is from upstream's image.
//
// The tree lands in CACHE/<key>/release-tree, where key is a short hash of
// every input, so a second run with the same inputs does no work. The Go
// builds, which take minutes, are cached apart under CACHE/gobuild. The
// only line on stdout is a JSON object naming the tree and the versions it
// serves:
//
//	{"dir":"/abs/release-tree","kubernetes":"v1.36.3","previousKubernetes":"v1.36.2","containerd":"1.6.20",...,
//	 "etcdPath":"/e2e-images/etcd-3.6.8-0.tar","etcdImage":"registry.k8s.io/etcd:3.6.8-0",...}
//
// Progress goes to stderr.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/strata-dev/strata/e2e/releaseserver"
)

// fixture is what mkartifacts prints.
type fixture struct {
	Dir string `json:"dir"`
	releaseserver.Release
	imagesFixture
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("mkartifacts: ")

	cache := flag.String("cache", "", "cache directory (required); the tree goes to CACHE/<key>/release-tree")
	repo := flag.String("repo", "", "strata repository root (default: the main module around the working directory)")
	flag.Parse()
	if *cache == "" || flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fx, err := run(ctx, *cache, *repo)
	if err != nil {
		log.Fatal(err)
	}
	line, err := json.Marshal(fx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(line))
}

// run returns the cached or freshly built tree.
func run(ctx context.Context, cacheDir, repo string) (*fixture, error) {
	cacheDir, err := filepath.Abs(cacheDir)
	if err != nil {
		return nil, err
	}
	if repo == "" {
		if repo, err = findRepo(ctx); err != nil {
			return nil, err
		}
	}
	in, err := gatherInputs(ctx, repo)
	if err != nil {
		return nil, err
	}
	keyDir := filepath.Join(cacheDir, in.key())
	fx := &fixture{Dir: filepath.Join(keyDir, "release-tree"), Release: in.release(), imagesFixture: in.images()}
	if err := os.MkdirAll(keyDir, 0o755); err != nil {
		return nil, fmt.Errorf("create cache dir: %w", err)
	}
	unlock, err := lockDir(keyDir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	removeLeftovers(keyDir)

	// The tree is renamed into place as the last step, so its presence
	// means it is complete.
	if fi, err := os.Stat(fx.Dir); err == nil && fi.IsDir() {
		log.Printf("cache hit: %s", fx.Dir)
		return fx, nil
	}
	start := time.Now()
	if err := build(ctx, cacheDir, keyDir, fx, in); err != nil {
		return nil, err
	}
	log.Printf("built %s in %s (%s)", fx.Dir, time.Since(start).Round(time.Second), treeSize(fx.Dir))
	return fx, nil
}

// build makes the tree in a scratch directory next to its final place and
// renames it there at the end, so an interrupted run never looks like a
// cache hit.
func build(ctx context.Context, cacheDir, keyDir string, fx *fixture, in *inputs) error {
	work, err := os.MkdirTemp(keyDir, ".build-")
	if err != nil {
		return fmt.Errorf("create work dir: %w", err)
	}
	defer os.RemoveAll(work)

	src := treeSources{kubeBins: map[string]string{}, debRoots: map[string]string{}}
	for _, b := range []*goBuild{in.kube, in.kubePrev} {
		if src.kubeBins[b.release.Version], err = b.ensure(ctx, cacheDir); err != nil {
			return err
		}
	}
	if src.crictlBin, err = in.crictl.ensure(ctx, cacheDir); err != nil {
		return err
	}
	for _, s := range debSources {
		pin := in.debs[s.Package]
		log.Printf("fetching Debian package %s %s", pin.Package, pin.Version)
		if src.debRoots[s.Package], err = fetchDeb(ctx, pin, filepath.Join(work, "deb", s.Package)); err != nil {
			return err
		}
	}

	tree := filepath.Join(work, "release-tree")
	if err := layOut(tree, fx.Release, src); err != nil {
		return err
	}
	if err := buildImages(ctx, cacheDir, work, tree, fx.Release, in); err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(keyDir, "inputs.txt"), []byte(in.describe()), 0o644); err != nil {
		return err
	}
	// A tree without the rename is the remains of an older, broken run.
	if err := os.RemoveAll(fx.Dir); err != nil {
		return fmt.Errorf("remove stale tree: %w", err)
	}
	if err := os.Rename(tree, fx.Dir); err != nil {
		return fmt.Errorf("move tree into cache: %w", err)
	}
	return nil
}

// findRepo locates the strata repository from the working directory: the
// root of the main module, which holds the nested tool modules.
func findRepo(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", exitDetail(err))
	}
	repo := filepath.Dir(strings.TrimSpace(string(out)))
	if _, err := os.Stat(filepath.Join(repo, filepath.FromSlash(kubeTool.ModDir), "go.mod")); err != nil {
		return "", fmt.Errorf("%s is not the strata repository (run from it, or pass -repo): %w", repo, err)
	}
	return repo, nil
}

// treeSize reports the total size of the tree's files, for the log.
func treeSize(dir string) string {
	var total int64
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				total += fi.Size()
			}
		}
		return nil
	})
	return fmt.Sprintf("%.1f MiB", float64(total)/(1<<20))
}
