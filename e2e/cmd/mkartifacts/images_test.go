package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/images/archive"
	"github.com/moby/buildkit/util/contentutil"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// readTar returns a tarball's members by name.
func readTar(t *testing.T, path string) (map[string][]byte, []string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	files := map[string][]byte{}
	var names []string
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return files, names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, hdr.Name)
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[hdr.Name] = data
	}
}

func testImage(t *testing.T) (imageSpec, string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fake-kube-proxy")
	writeFile(t, bin, "#!/bin/sh\necho fake kube-proxy\n")
	return imageSpec{
		Names:      []string{"registry.k8s.io/kube-proxy-amd64:v1.36.3"},
		Files:      []imageFile{{Path: "usr/local/bin/kube-proxy", Source: bin, Mode: 0o755}},
		Entrypoint: []string{"/usr/local/bin/kube-proxy"},
		User:       "65535:65535",
		Created:    time.Date(2026, 7, 22, 18, 7, 38, 0, time.UTC),
		CreatedBy:  "test",
	}, bin
}

// TestImageTarImports reads the archive with containerd's own importer,
// the code `ctr images import` runs, and checks the name, the platform and
// the layer it finds; and with Docker's manifest.json, as `docker load`
// reads it.
func TestImageTarImports(t *testing.T) {
	s, bin := testImage(t)
	dst := filepath.Join(t.TempDir(), "kube-proxy.tar")
	if err := writeImageTar(dst, s); err != nil {
		t.Fatal(err)
	}

	files, names := readTar(t, dst)
	for _, want := range []string{"oci-layout", "index.json", "manifest.json"} {
		if files[want] == nil {
			t.Errorf("archive lacks %s; members %q", want, names)
		}
	}
	var dockerManifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(files["manifest.json"], &dockerManifest); err != nil {
		t.Fatal(err)
	}
	if len(dockerManifest) != 1 || !slices.Equal(dockerManifest[0].RepoTags, s.Names) || len(dockerManifest[0].Layers) != 1 {
		t.Fatalf("manifest.json: %+v", dockerManifest)
	}

	ctx := context.Background()
	store := contentutil.NewBuffer()
	f, err := os.Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	idxDesc, err := archive.ImportIndex(ctx, store, f)
	if err != nil {
		t.Fatalf("containerd cannot import the archive: %v", err)
	}
	var idx ocispec.Index
	readJSON(t, store, idxDesc, &idx)
	if len(idx.Manifests) != 1 {
		t.Fatalf("index has %d manifests", len(idx.Manifests))
	}
	m := idx.Manifests[0]
	if got := m.Annotations[images.AnnotationImageName]; got != s.Names[0] {
		t.Errorf("containerd would name the image %q, want %q", got, s.Names[0])
	}
	if m.MediaType != images.MediaTypeDockerSchema2Manifest {
		t.Errorf("manifest media type %s, want Docker's as buildx --output type=docker writes", m.MediaType)
	}
	var manifest ocispec.Manifest
	readJSON(t, store, m, &manifest)
	var config ocispec.Image
	readJSON(t, store, manifest.Config, &config)
	if config.Architecture != "amd64" || config.OS != "linux" || config.Config.User != "65535:65535" ||
		!slices.Equal(config.Config.Entrypoint, s.Entrypoint) || len(config.RootFS.DiffIDs) != 1 {
		t.Errorf("config: %+v", config)
	}

	// The layer holds the file with its mode, under its parents.
	ra, err := store.ReaderAt(ctx, manifest.Layers[0])
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(content.NewReader(ra))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	rawPath := filepath.Join(t.TempDir(), "layer.tar")
	if err := os.WriteFile(rawPath, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, members := readTar(t, rawPath); !slices.Equal(members, []string{"usr/", "usr/local/", "usr/local/bin/", "usr/local/bin/kube-proxy"}) {
		t.Errorf("layer members %q", members)
	}
	if got, want := digest.FromBytes(raw), config.RootFS.DiffIDs[0]; got != want {
		t.Errorf("layer's diff ID is %s, the config says %s", got, want)
	}
	got := extractFromImage(t, dst, "usr/local/bin/kube-proxy")
	if readFile(t, got) != readFile(t, bin) {
		t.Errorf("layer's kube-proxy is %q", readFile(t, got))
	}
	if fi, err := os.Stat(got); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("layer's kube-proxy: %v, %v; want mode 0755", fi.Mode(), err)
	}
}

// extractFromImage imports an image archive with containerd's importer and
// unpacks member of its single layer into a temporary directory.
func extractFromImage(t *testing.T, archivePath, member string) string {
	t.Helper()
	ctx := context.Background()
	store := contentutil.NewBuffer()
	f, err := os.Open(archivePath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	idxDesc, err := archive.ImportIndex(ctx, store, f)
	if err != nil {
		t.Fatalf("%s: %v", archivePath, err)
	}
	var idx ocispec.Index
	readJSON(t, store, idxDesc, &idx)
	var manifest ocispec.Manifest
	readJSON(t, store, idx.Manifests[0], &manifest)
	data, err := content.ReadBlob(ctx, store, manifest.Layers[0])
	if err != nil {
		t.Fatal(err)
	}
	layer := filepath.Join(t.TempDir(), "layer.tar.gz")
	if err := os.WriteFile(layer, data, 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	untar(t, layer, dir)
	return filepath.Join(dir, filepath.FromSlash(member))
}

func readJSON(t *testing.T, store content.Provider, desc ocispec.Descriptor, v any) {
	t.Helper()
	data, err := content.ReadBlob(context.Background(), store, desc)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatal(err)
	}
}

// TestImageTarDeterministic: the same inputs give the same bytes, so the
// tarball's checksum is the same on every machine.
func TestImageTarDeterministic(t *testing.T) {
	s, _ := testImage(t)
	a, b := filepath.Join(t.TempDir(), "a.tar"), filepath.Join(t.TempDir(), "b.tar")
	if err := writeImageTar(a, s); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	if err := writeImageTar(b, s); err != nil {
		t.Fatal(err)
	}
	da, _ := os.ReadFile(a)
	db, _ := os.ReadFile(b)
	if !bytes.Equal(da, db) {
		t.Error("two archives of the same image differ")
	}
}

func TestWriteImages(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tree")
	srcDir := t.TempDir()
	fake := func(name string) string {
		p := filepath.Join(srcDir, "fake-"+name)
		writeFile(t, p, "fake "+name)
		return p
	}
	src := imageSources{release: map[string]string{}, pause: fake("pause"), etcd: fake("etcd"), coredns: fake("coredns")}
	for _, ri := range releaseImages {
		src.release[ri.name] = fake(ri.name)
	}
	in := testInputs()
	if err := writeImages(dir, in.treeImages(testRelease, src)); err != nil {
		t.Fatal(err)
	}
	proxyTar := testRelease.KubeBinary("kube-proxy.tar")
	if proxyTar != "/release/v1.36.3/bin/linux/amd64/kube-proxy.tar" {
		t.Fatalf("kube-proxy.tar at %s", proxyTar)
	}
	fx := in.images()
	// Each image's tarball, the name it carries, and where its program is.
	want := map[string]struct{ name, file string }{
		"/e2e-images/pause-3.10.2.tar":    {"registry.k8s.io/pause:3.10.2", "pause"},
		"/e2e-images/etcd-3.6.8-0.tar":    {"registry.k8s.io/etcd:3.6.8-0", "usr/local/bin/etcd"},
		"/e2e-images/coredns-v1.14.2.tar": {"registry.k8s.io/coredns/coredns:v1.14.2", "coredns"},
	}
	for _, ri := range releaseImages {
		want[testRelease.KubeBinary(ri.name+".tar")] = struct{ name, file string }{
			"registry.k8s.io/" + ri.name + "-amd64:v1.36.3", "usr/local/bin/" + ri.name}
	}
	if fx.EtcdPath != "/e2e-images/etcd-3.6.8-0.tar" || fx.EtcdImage != "registry.k8s.io/etcd:3.6.8-0" ||
		fx.CorednsPath != "/e2e-images/coredns-v1.14.2.tar" || fx.CorednsImage != "registry.k8s.io/coredns/coredns:v1.14.2" {
		t.Errorf("fixture line: %+v", fx)
	}

	artifacts := verifyTree(t, dir)
	var got []string
	for _, a := range artifacts {
		got = append(got, "/"+filepath.ToSlash(strings.TrimPrefix(a, dir+string(filepath.Separator))))
	}
	slices.Sort(got)
	wantPaths := slices.Sorted(maps.Keys(want))
	if !slices.Equal(got, wantPaths) {
		t.Errorf("images %q, want %q", got, wantPaths)
	}
	for _, ri := range releaseImages {
		for _, suffix := range []string{".sha256", ".sha512"} {
			if _, err := os.Stat(filepath.Join(dir, testRelease.KubeBinary(ri.name+".tar")+suffix)); err != nil {
				t.Errorf("%s.tar lacks its %s, as dl.k8s.io has it: %v", ri.name, suffix, err)
			}
		}
	}
	for p, w := range want {
		tarball := filepath.Join(dir, filepath.FromSlash(p))
		files, _ := readTar(t, tarball)
		if !strings.Contains(string(files["manifest.json"]), `"RepoTags":["`+w.name+`"]`) {
			t.Errorf("%s is not tagged %s: %s", p, w.name, files["manifest.json"])
		}
		bin := extractFromImage(t, tarball, w.file)
		if got, want := readFile(t, bin), "fake "+path.Base(w.file); got != want {
			t.Errorf("%s: %s holds %q, want %q", p, w.file, got, want)
		}
	}

	// What the static pods and the Deployment rely on.
	configs := map[string]ocispec.ImageConfig{}
	for _, p := range []string{fx.EtcdPath, fx.CorednsPath} {
		configs[p] = imageConfig(t, filepath.Join(dir, filepath.FromSlash(p)))
	}
	if etcd := configs[fx.EtcdPath]; !slices.Contains(strings.Split(strings.TrimPrefix(etcd.Env[0], "PATH="), ":"), "/usr/local/bin") {
		t.Errorf("etcd's PATH does not reach /usr/local/bin, where the static pod's `etcd` is: %q", etcd.Env)
	}
	if coredns := configs[fx.CorednsPath]; !slices.Equal(coredns.Entrypoint, []string{"/coredns"}) {
		t.Errorf("CoreDNS's entrypoint is %q; kubeadm's Deployment passes only arguments", coredns.Entrypoint)
	}
}

// imageConfig returns the config of an image archive's only image.
func imageConfig(t *testing.T, archivePath string) ocispec.ImageConfig {
	t.Helper()
	ctx := context.Background()
	store := contentutil.NewBuffer()
	f, err := os.Open(archivePath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	idxDesc, err := archive.ImportIndex(ctx, store, f)
	if err != nil {
		t.Fatalf("%s: %v", archivePath, err)
	}
	var idx ocispec.Index
	readJSON(t, store, idxDesc, &idx)
	var manifest ocispec.Manifest
	readJSON(t, store, idx.Manifests[0], &manifest)
	var config ocispec.Image
	readJSON(t, store, manifest.Config, &config)
	return config.Config
}

// TestPauseCompiles builds upstream's pause.c as the fixture does. It needs
// the module cache to hold k8s.io/kubernetes, so it runs in the e2e tier
// (or wherever the fixture has been built once).
func TestPauseCompiles(t *testing.T) {
	if os.Getenv("STRATA_E2E") != "1" {
		t.Skip("e2e tier: set STRATA_E2E=1")
	}
	ctx := context.Background()
	repo, err := findRepo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kube, err := kubeTool.resolve(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	p, err := resolvePause(ctx, kube)
	if err != nil {
		t.Fatal(err)
	}
	bin, err := p.compile(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	checkAMD64Executable(t, bin)
	out, err := exec.CommandContext(ctx, bin, "-v").CombinedOutput()
	if want := "pause.c v" + p.tag + "-" + kube.release.Version + "\n"; err != nil || string(out) != want {
		t.Errorf("pause -v: %q, %v; want %q", out, err, want)
	}
}
