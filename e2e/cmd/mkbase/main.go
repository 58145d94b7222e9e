// Command mkbase builds the Debian base-image fixture for the e2e tests: it
// runs mmdebstrap and turns the resulting tar into an OCI image layout that
// BuildKit takes as a named context.
//
//	go run ./e2e/cmd/mkbase -cache /var/cache/strata-e2e [-suite bookworm] [-variant minbase] [-include pkg,pkg] [-goroot DIR] [-host-ca]
//
// The layout lands in CACHE/<key>/oci, where key is a short hash of every
// input that changes the result, so a second run with the same inputs does
// no work. The only line on stdout is the build-context value,
//
//	oci-layout:///abs/path/oci@sha256:<manifest digest>
//
// ready for `--build-context os-base=$(go run ./e2e/cmd/mkbase ...)`.
// Progress goes to stderr.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/strata-dev/strata/e2e/ocilayout"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("mkbase: ")

	var in inputs
	cache := flag.String("cache", "", "cache directory (required); the layout goes to CACHE/<key>/oci")
	flag.StringVar(&in.Suite, "suite", "bookworm", "Debian suite passed to mmdebstrap")
	flag.StringVar(&in.Variant, "variant", "minbase", "mmdebstrap --variant")
	include := flag.String("include", "", "comma-separated extra packages (mmdebstrap --include)")
	flag.StringVar(&in.GoRoot, "goroot", "", "copy this Go toolchain to /usr/local/go: a stand-in for the golang image")
	flag.BoolVar(&in.HostCA, "host-ca", false, "copy the host's CA bundle into the image (for TLS through the host's proxy)")
	flag.Parse()
	if *cache == "" || flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	in.Include = splitList(*include)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ref, err := run(ctx, *cache, in)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ref)
}

// run returns the build-context reference of the cached or freshly built
// layout.
func run(ctx context.Context, cacheDir string, in inputs) (string, error) {
	cacheDir, err := filepath.Abs(cacheDir)
	if err != nil {
		return "", err
	}
	if err := in.gatherHost(ctx, hostSourcePaths()); err != nil {
		return "", err
	}
	if err := in.gatherGo(); err != nil {
		return "", err
	}
	if err := in.gatherHostCA(); err != nil {
		return "", err
	}
	switch {
	case len(in.Sources) == 0:
		log.Printf("no host apt source serves %q; mmdebstrap uses its default mirror", in.Suite)
	case in.SuiteFrom != "":
		log.Printf("no host apt source serves %q; using the host's %s sources with the suite renamed", in.Suite, in.SuiteFrom)
	}
	key := in.key()
	keyDir := filepath.Join(cacheDir, key)
	layoutDir := filepath.Join(keyDir, "oci")
	if err := os.MkdirAll(keyDir, 0o755); err != nil {
		return "", fmt.Errorf("create cache dir: %w", err)
	}

	// Two CI jobs may share a cache; the lock makes the second one wait
	// and then find the first one's result instead of building it again.
	unlock, err := lockDir(keyDir)
	if err != nil {
		return "", err
	}
	defer unlock()

	if m, err := ocilayout.ReadManifest(layoutDir); err == nil {
		log.Printf("cache hit: %s", layoutDir)
		return buildContextRef(layoutDir, m.Digest.String()), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		log.Printf("ignoring unusable cached layout: %v", err)
	}

	start := time.Now()
	if err := build(ctx, keyDir, layoutDir, in); err != nil {
		return "", err
	}
	m, err := ocilayout.ReadManifest(layoutDir)
	if err != nil {
		return "", err
	}
	log.Printf("built %s in %s (layer %s)", layoutDir, time.Since(start).Round(time.Second), layerSize(layoutDir))
	return buildContextRef(layoutDir, m.Digest.String()), nil
}

// build runs mmdebstrap and converts its tar into layoutDir. All work
// happens in a scratch directory next to the result and is renamed into
// place at the end, so an interrupted run never looks like a cache hit.
func build(ctx context.Context, keyDir, layoutDir string, in inputs) error {
	work, err := os.MkdirTemp(keyDir, ".build-")
	if err != nil {
		return fmt.Errorf("create work dir: %w", err)
	}
	// work holds only our own tar and layout; mmdebstrap's chroot (with
	// its bind mounts) lives in its own temporary directory.
	defer os.RemoveAll(work)

	tarPath := filepath.Join(work, "rootfs.tar")
	sources, err := in.sourcesFor(work)
	if err != nil {
		return err
	}
	args := in.mmdebstrapArgs(tarPath, sources)
	log.Printf("running mmdebstrap %s", strings.Join(args, " "))
	t0 := time.Now()
	cmd := exec.CommandContext(ctx, "mmdebstrap", args...)
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	// SIGTERM lets mmdebstrap unmount and remove its chroot; SIGKILL is
	// the fallback.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("mmdebstrap: %w", err)
	}
	if fi, err := os.Stat(tarPath); err == nil {
		log.Printf("mmdebstrap done in %s, tar %s", time.Since(t0).Round(time.Second), humanSize(fi.Size()))
	}

	t1 := time.Now()
	tmpLayout := filepath.Join(work, "oci")
	if _, err := ocilayout.FromTar(ctx, tarPath, tmpLayout, in.refName(), in.env()...); err != nil {
		return fmt.Errorf("convert to OCI layout: %w", err)
	}
	log.Printf("OCI layout written in %s", time.Since(t1).Round(time.Second))

	// A layout without index.json is the remains of an older, broken run.
	if err := os.RemoveAll(layoutDir); err != nil {
		return fmt.Errorf("remove stale layout: %w", err)
	}
	if err := os.Rename(tmpLayout, layoutDir); err != nil {
		return fmt.Errorf("move layout into cache: %w", err)
	}
	return writeInputsRecord(keyDir, in)
}

// buildContextRef formats a layout as BuildKit's oci-layout context source.
func buildContextRef(layoutDir, manifestDigest string) string {
	return "oci-layout://" + layoutDir + "@" + manifestDigest
}

// writeInputsRecord leaves a human-readable note of what the key covers, to
// explain a cache miss. It holds digests of the apt sources, never their text.
func writeInputsRecord(keyDir string, in inputs) error {
	f, err := os.CreateTemp(keyDir, ".inputs-")
	if err != nil {
		return fmt.Errorf("write inputs record: %w", err)
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return fmt.Errorf("write inputs record: %w", err)
	}
	if _, err := io.WriteString(f, in.describe()); err != nil {
		f.Close()
		return fmt.Errorf("write inputs record: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write inputs record: %w", err)
	}
	if err := os.Rename(f.Name(), filepath.Join(keyDir, "inputs.txt")); err != nil {
		return fmt.Errorf("write inputs record: %w", err)
	}
	return nil
}

// lockDir takes an exclusive lock on dir/.lock, waiting for other holders.
func lockDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock cache: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		log.Printf("waiting for another mkbase holding %s", f.Name())
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			return nil, fmt.Errorf("lock cache: %w", err)
		}
	}
	return func() { f.Close() }, nil
}

// layerSize reports the total size of a layout's blobs, for the log.
func layerSize(layoutDir string) string {
	var total int64
	filepath.WalkDir(filepath.Join(layoutDir, "blobs"), func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				total += fi.Size()
			}
		}
		return nil
	})
	return humanSize(total)
}

func humanSize(n int64) string {
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
