package main

import (
	"archive/tar"
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"debug/elf"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestFixtureE2E builds (or reuses) the real tree, as the e2e harness
// does, and checks what it serves: real amd64 executables reporting the
// versions the JSON line claims, and checksum files that verify. It runs
// in the e2e tier only; a cold build compiles Kubernetes, so give it time:
//
//	STRATA_E2E=1 go test -timeout 60m -run E2E ./e2e/cmd/mkartifacts
func TestFixtureE2E(t *testing.T) {
	if os.Getenv("STRATA_E2E") != "1" {
		t.Skip("e2e tier: set STRATA_E2E=1")
	}
	cache := filepath.Join(cmp.Or(os.Getenv("STRATA_CACHE"), "/var/cache/strata-e2e"), "artifacts")
	ctx := context.Background()
	if d, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d.Add(-30*time.Second))
		defer cancel()
	}

	start := time.Now()
	fx, err := run(ctx, cache, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("tree ready in %s: %s", time.Since(start).Round(time.Second), fx.Dir)
	at := func(urlPath string) string { return filepath.Join(fx.Dir, filepath.FromSlash(urlPath)) }

	artifacts := verifyTree(t, fx.Dir)
	// containerd, runc, crictl, CNI, kubelet, kubeadm, kubectl twice, and
	// the images: four beside the binaries, pause, etcd and CoreDNS.
	if len(artifacts) != 17 {
		t.Errorf("%d artifacts in the tree, want 17: %q", len(artifacts), artifacts)
	}

	// Unpack the tarballs as the node image build will.
	unpacked := t.TempDir()
	for _, p := range []string{fx.ContainerdTarball(), fx.CrictlTarball(), fx.CNITarball()} {
		untar(t, at(p), filepath.Join(unpacked, filepath.Base(p)))
	}
	containerdBin := filepath.Join(unpacked, filepath.Base(fx.ContainerdTarball()), "bin")
	crictlDir := filepath.Join(unpacked, filepath.Base(fx.CrictlTarball()))
	cniDir := filepath.Join(unpacked, filepath.Base(fx.CNITarball()))

	prev := fx.Previous()
	var executables []string
	for _, b := range kubeBinaries {
		executables = append(executables, at(fx.KubeBinary(b)), at(prev.KubeBinary(b)))
	}
	executables = append(executables, at(fx.RuncBinary()), filepath.Join(crictlDir, "crictl"))
	for _, dir := range []string{containerdBin, cniDir} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			executables = append(executables, filepath.Join(dir, e.Name()))
		}
	}
	for _, want := range []string{"containerd", "containerd-shim-runc-v2", "ctr"} {
		if _, err := os.Stat(filepath.Join(containerdBin, want)); err != nil {
			t.Errorf("containerd tarball: %v", err)
		}
	}
	for _, want := range []string{"bridge", "host-local", "loopback", "portmap"} {
		if _, err := os.Stat(filepath.Join(cniDir, want)); err != nil {
			t.Errorf("CNI tarball: %v", err)
		}
	}
	for _, p := range executables {
		checkAMD64Executable(t, p)
	}

	if fx.PreviousKubernetes == "" || fx.PreviousKubernetes == fx.Kubernetes {
		t.Errorf("previous Kubernetes release %q, want one other than %s", fx.PreviousKubernetes, fx.Kubernetes)
	}
	for _, tc := range []struct {
		bin  string
		args []string
		want string
	}{
		{at(fx.KubeBinary("kubelet")), []string{"--version"}, "Kubernetes " + fx.Kubernetes + "\n"},
		{at(fx.KubeBinary("kubeadm")), []string{"version", "-o", "short"}, fx.Kubernetes + "\n"},
		{at(fx.KubeBinary("kubectl")), []string{"version", "--client"}, "Client Version: " + fx.Kubernetes + "\n"},
		{at(prev.KubeBinary("kubelet")), []string{"--version"}, "Kubernetes " + prev.Kubernetes + "\n"},
		{at(prev.KubeBinary("kubeadm")), []string{"version", "-o", "short"}, prev.Kubernetes + "\n"},
		{at(prev.KubeBinary("kubectl")), []string{"version", "--client"}, "Client Version: " + prev.Kubernetes + "\n"},
		{filepath.Join(containerdBin, "containerd"), []string{"--version"}, " " + fx.Containerd + "~"},
		{at(fx.RuncBinary()), []string{"--version"}, "runc version " + fx.Runc + "+"},
		{filepath.Join(crictlDir, "crictl"), []string{"--version"}, "crictl version v" + fx.Crictl + "\n"},
		// The images' binaries, from inside the image tarballs.
		{extractFromImage(t, at(fx.KubeBinary("kube-proxy.tar")), "usr/local/bin/kube-proxy"), []string{"--version"}, "Kubernetes " + fx.Kubernetes + "\n"},
		{extractFromImage(t, at(fx.PausePath), "pause"), []string{"-v"}, "pause.c v" + strings.TrimPrefix(fx.PauseImage, "registry.k8s.io/pause:") + "-" + fx.Kubernetes + "\n"},
		{extractFromImage(t, at(fx.KubeBinary("kube-apiserver.tar")), "usr/local/bin/kube-apiserver"), []string{"--version"}, "Kubernetes " + fx.Kubernetes + "\n"},
		{extractFromImage(t, at(fx.KubeBinary("kube-controller-manager.tar")), "usr/local/bin/kube-controller-manager"), []string{"--version"}, "Kubernetes " + fx.Kubernetes + "\n"},
		{extractFromImage(t, at(fx.KubeBinary("kube-scheduler.tar")), "usr/local/bin/kube-scheduler"), []string{"--version"}, "Kubernetes " + fx.Kubernetes + "\n"},
		{extractFromImage(t, at(fx.EtcdPath), "usr/local/bin/etcd"), []string{"--version"}, "etcd Version: " + etcdVersionOf(fx.EtcdImage) + "\n"},
		{extractFromImage(t, at(fx.CorednsPath), "coredns"), []string{"-version"}, "CoreDNS-" + strings.TrimPrefix(fx.CorednsImage, "registry.k8s.io/coredns/coredns:v") + "\n"},
	} {
		out, err := exec.CommandContext(ctx, tc.bin, tc.args...).CombinedOutput()
		if err != nil {
			t.Errorf("%s %s: %v\n%s", filepath.Base(tc.bin), strings.Join(tc.args, " "), err, out)
			continue
		}
		if !strings.Contains(string(out), tc.want) {
			t.Errorf("%s %s printed %q, want it to contain %q", filepath.Base(tc.bin), strings.Join(tc.args, " "), out, tc.want)
		}
	}

	// The images are the ones kubeadm of the release pulls: the release's
	// under the names the import adds, etcd, CoreDNS and pause as they are.
	out, err := exec.CommandContext(ctx, at(fx.KubeBinary("kubeadm")), "config", "images", "list", "--kubernetes-version", fx.Kubernetes).CombinedOutput()
	if err != nil {
		t.Fatalf("kubeadm config images list: %v\n%s", err, out)
	}
	served := []string{fx.PauseImage, fx.EtcdImage, fx.CorednsImage}
	for _, ri := range releaseImages {
		_, name := releaseImageTags(ri.name, fx.Kubernetes)
		served = append(served, name)
	}
	pulls := strings.Fields(string(out))
	if len(pulls) < len(served) {
		t.Errorf("kubeadm config images list names %q; want at least the %d images served", pulls, len(served))
	}
	for _, img := range pulls {
		if !slices.Contains(served, img) {
			t.Errorf("kubeadm %s pulls %s, which the tree does not serve (it serves %q)", fx.Kubernetes, img, served)
		}
	}

	// The command itself: one JSON line on stdout, naming the same tree,
	// and a cache hit this time.
	cmd := exec.CommandContext(ctx, "go", "run", ".", "-cache", cache)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start = time.Now()
	out, err = cmd.Output()
	if err != nil {
		t.Fatalf("go run . -cache %s: %v\n%s", cache, err, stderr.String())
	}
	t.Logf("second run (cache hit) took %s", time.Since(start).Round(time.Millisecond))
	if n := bytes.Count(out, []byte("\n")); n != 1 || !bytes.HasSuffix(out, []byte("\n")) {
		t.Errorf("stdout is %d lines, want exactly one: %q", n, out)
	}
	var printed fixture
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&printed); err != nil {
		t.Fatalf("stdout is not the fixture JSON: %v: %q", err, out)
	}
	if printed != *fx {
		t.Errorf("printed %+v, want %+v", printed, *fx)
	}
	if !strings.Contains(stderr.String(), "cache hit") {
		t.Errorf("second run did not hit the cache:\n%s", stderr.String())
	}
}

// etcdVersionOf is the etcd version an etcd image's tag names, without
// the image revision: 3.6.8 for registry.k8s.io/etcd:3.6.8-0.
func etcdVersionOf(image string) string {
	_, tag, _ := strings.Cut(image, ":")
	version, _, _ := strings.Cut(tag, "-")
	return version
}

// checkAMD64Executable fails unless path is an x86-64 ELF program: a
// static executable or a dynamically linked one (with an interpreter).
func checkAMD64Executable(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Errorf("%s: %v", path, err)
		return
	}
	defer f.Close()
	exe := f.Type == elf.ET_EXEC
	if f.Type == elf.ET_DYN {
		for _, p := range f.Progs {
			exe = exe || p.Type == elf.PT_INTERP
		}
	}
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 || !exe {
		t.Errorf("%s: %v %v %v, want an x86-64 executable", path, f.Class, f.Machine, f.Type)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o111 == 0 {
		t.Errorf("%s is not executable (mode %v)", path, fi.Mode())
	}
}

// untar unpacks a gzip-compressed tarball into dir, refusing members that
// would land outside it.
func untar(t *testing.T, tarball, dir string) {
	t.Helper()
	f, err := os.Open(tarball)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		target := filepath.Join(dir, filepath.FromSlash(hdr.Name))
		if rel, err := filepath.Rel(dir, target); err != nil || strings.HasPrefix(rel, "..") {
			t.Fatalf("%s: member %s escapes", tarball, hdr.Name)
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				t.Fatal(err)
			}
			out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_EXCL, os.FileMode(hdr.Mode).Perm())
			if err != nil {
				t.Fatal(err)
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("%s: member %s has unexpected type %c", tarball, hdr.Name, hdr.Typeflag)
		}
	}
}
