package main

import (
	"archive/tar"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/strata-dev/strata/e2e/releaseserver"
)

var testRelease = releaseserver.Release{
	Kubernetes: "v1.36.3", PreviousKubernetes: "v1.36.2", Containerd: "1.6.20", Runc: "1.1.5", Crictl: "1.36.0", CNI: "1.1.1",
}

// fakeSources makes stand-in inputs shaped like the real ones: built
// binaries in two directories and unpacked Debian packages.
func fakeSources(t *testing.T) treeSources {
	t.Helper()
	dir := t.TempDir()
	src := treeSources{
		kubeBins:  map[string]string{},
		crictlBin: filepath.Join(dir, "crictl"),
		debRoots:  map[string]string{},
	}
	exe := func(p string) {
		writeFile(t, p, "#!/bin/sh\n# "+filepath.Base(p)+"\n")
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Each release's binaries say which release they are, so a test can
	// tell them apart in the tree.
	for _, v := range []string{testRelease.Kubernetes, testRelease.PreviousKubernetes} {
		src.kubeBins[v] = filepath.Join(dir, "kube-"+v)
		for _, b := range kubeBinaries {
			p := filepath.Join(src.kubeBins[v], b)
			writeFile(t, p, "#!/bin/sh\n# "+b+" "+v+"\n")
			if err := os.Chmod(p, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	exe(filepath.Join(src.crictlBin, "crictl"))
	debFiles := map[string][]string{
		"containerd":                  {"usr/bin/containerd", "usr/bin/containerd-shim", "usr/bin/containerd-shim-runc-v1", "usr/bin/containerd-shim-runc-v2", "usr/bin/ctr"},
		"runc":                        {"usr/sbin/runc"},
		"containernetworking-plugins": {"usr/lib/cni/bridge", "usr/lib/cni/host-local", "usr/lib/cni/loopback", "usr/lib/cni/portmap", "usr/lib/cni/vrf"},
	}
	for pkg, files := range debFiles {
		root := filepath.Join(dir, "deb", pkg, "root")
		src.debRoots[pkg] = root
		for _, f := range files {
			exe(filepath.Join(root, f))
		}
	}
	// Packages carry more than the binaries; only the source's directory
	// goes into the artifact.
	writeFile(t, filepath.Join(src.debRoots["containerd"], "usr/share/doc/containerd/copyright"), "x")
	writeFile(t, filepath.Join(src.debRoots["containerd"], "lib/systemd/system/containerd.service"), "x")
	return src
}

// tarMembers lists a tarball's member names, checking the header fields
// upstream's tars have.
func tarMembers(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var names []string
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, hdr.Name)
		if hdr.Uid != 0 || hdr.Gid != 0 || hdr.Uname != "root" || hdr.Gname != "root" {
			t.Errorf("%s: %s owned by %d:%d (%s:%s), want root", filepath.Base(path), hdr.Name, hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname)
		}
		if hdr.Mode != 0o755 {
			t.Errorf("%s: %s has mode %o, want 755", filepath.Base(path), hdr.Name, hdr.Mode)
		}
		if hdr.ModTime.IsZero() || hdr.ModTime.Before(time.Unix(1, 0)) {
			t.Errorf("%s: %s has no time", filepath.Base(path), hdr.Name)
		}
	}
}

func TestLayOut(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tree")
	if err := layOut(dir, testRelease, fakeSources(t)); err != nil {
		t.Fatal(err)
	}
	at := func(urlPath string) string { return filepath.Join(dir, filepath.FromSlash(urlPath)) }

	// Exactly the upstream file set: artifacts and their checksum files.
	var want []string
	for _, r := range []releaseserver.Release{testRelease, testRelease.Previous()} {
		for _, b := range kubeBinaries {
			p := r.KubeBinary(b)
			want = append(want, p, p+".sha256", p+".sha512")
		}
	}
	want = append(want,
		testRelease.ContainerdTarball(), testRelease.ContainerdTarball()+".sha256sum",
		testRelease.RuncBinary(), testRelease.RuncChecksums(),
		testRelease.CrictlTarball(), testRelease.CrictlTarball()+".sha256", testRelease.CrictlTarball()+".sha512",
		testRelease.CNITarball(), testRelease.CNITarball()+".sha1", testRelease.CNITarball()+".sha256", testRelease.CNITarball()+".sha512",
	)
	var got []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			got = append(got, "/"+filepath.ToSlash(strings.TrimPrefix(p, dir+string(filepath.Separator))))
		}
		return err
	})
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("tree files:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	verifyTree(t, dir)

	for _, tc := range []struct {
		tarball string
		members []string
	}{
		// containerd: tar -C releases/NAME bin
		{testRelease.ContainerdTarball(), []string{"bin/", "bin/containerd", "bin/containerd-shim", "bin/containerd-shim-runc-v1", "bin/containerd-shim-runc-v2", "bin/ctr"}},
		// cri-tools: tar -C DIR crictl
		{testRelease.CrictlTarball(), []string{"crictl"}},
		// CNI plugins: tar -C bin .
		{testRelease.CNITarball(), []string{"./", "./bridge", "./host-local", "./loopback", "./portmap", "./vrf"}},
	} {
		if got := tarMembers(t, at(tc.tarball)); !slices.Equal(got, tc.members) {
			t.Errorf("%s members = %q, want %q", filepath.Base(tc.tarball), got, tc.members)
		}
	}

	for _, p := range []string{testRelease.KubeBinary("kubelet"), testRelease.RuncBinary()} {
		fi, err := os.Stat(at(p))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o755 {
			t.Errorf("%s has mode %v, want executable", p, fi.Mode())
		}
	}
	if got := readFile(t, at(testRelease.RuncBinary())); !strings.Contains(got, "# runc") {
		t.Errorf("runc.amd64 is not Debian's runc: %q", got)
	}
	for _, r := range []releaseserver.Release{testRelease, testRelease.Previous()} {
		if got, want := readFile(t, at(r.KubeBinary("kubeadm"))), "# kubeadm "+r.Kubernetes+"\n"; !strings.HasSuffix(got, want) {
			t.Errorf("%s is %q, want the %s build", r.KubeBinary("kubeadm"), got, r.Kubernetes)
		}
	}
}

// TestLayOutNeedsEveryRelease: a release without built binaries is an
// error, not a tree that lacks it.
func TestLayOutNeedsEveryRelease(t *testing.T) {
	src := fakeSources(t)
	delete(src.kubeBins, testRelease.PreviousKubernetes)
	err := layOut(filepath.Join(t.TempDir(), "tree"), testRelease, src)
	if err == nil || !strings.Contains(err.Error(), "Kubernetes "+testRelease.PreviousKubernetes) {
		t.Errorf("layOut without the previous release's binaries: %v, want an error naming it", err)
	}
}

// TestLayOutDeterministic: the same inputs give the same bytes, so the
// checksums in the tree do not change from one machine to the next.
func TestLayOutDeterministic(t *testing.T) {
	src := fakeSources(t)
	a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	if err := layOut(a, testRelease, src); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // a clock-dependent field would now differ
	if err := layOut(b, testRelease, src); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{testRelease.ContainerdTarball(), testRelease.CrictlTarball(), testRelease.CNITarball()} {
		if readFile(t, filepath.Join(a, p)) != readFile(t, filepath.Join(b, p)) {
			t.Errorf("%s differs between two runs", filepath.Base(p))
		}
	}
}

func TestLayOutMissingDebFile(t *testing.T) {
	src := fakeSources(t)
	if err := os.Remove(filepath.Join(src.debRoots["containernetworking-plugins"], "usr/lib/cni/portmap")); err != nil {
		t.Fatal(err)
	}
	err := layOut(filepath.Join(t.TempDir(), "tree"), testRelease, src)
	if err == nil || !strings.Contains(err.Error(), "portmap") {
		t.Errorf("layOut without portmap: %v, want an error naming it", err)
	}
}
