package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/strata-dev/strata/e2e/releaseserver"
)

// kubeBinaries are the Kubernetes node binaries the tree serves.
var kubeBinaries = []string{"kubelet", "kubeadm", "kubectl"}

// treeSources are the built and unpacked inputs a tree is laid out from.
type treeSources struct {
	kubeBins  map[string]string // Kubernetes release -> directory holding kubeBinaries
	crictlBin string            // directory holding crictl
	debRoots  map[string]string // package name -> unpacked package root
}

// artifactWriter lays out one upstream artifact, with its checksum files,
// in the tree at dir.
type artifactWriter func(dir string, rel releaseserver.Release, src treeSources) error

// artifactWriters make up a tree: one small function per upstream project,
// each copying that project's own packaging.
var artifactWriters = []artifactWriter{
	writeKubeBinaries,
	writeContainerd,
	writeRunc,
	writeCrictl,
	writeCNI,
}

// layOut writes the whole release tree into dir.
func layOut(dir string, rel releaseserver.Release, src treeSources) error {
	for _, w := range artifactWriters {
		if err := w(dir, rel, src); err != nil {
			return err
		}
	}
	return nil
}

// writeKubeBinaries places kubelet, kubeadm and kubectl bare, as dl.k8s.io
// serves them, for the release and for the previous one.
func writeKubeBinaries(dir string, rel releaseserver.Release, src treeSources) error {
	releases := []releaseserver.Release{rel}
	if rel.PreviousKubernetes != "" {
		releases = append(releases, rel.Previous())
	}
	for _, r := range releases {
		bin, ok := src.kubeBins[r.Kubernetes]
		if !ok {
			return fmt.Errorf("lay out Kubernetes %s: no binaries built for it", r.Kubernetes)
		}
		for _, name := range kubeBinaries {
			dst, err := place(dir, r.KubeBinary(name))
			if err != nil {
				return err
			}
			if err := copyFile(filepath.Join(bin, name), dst); err != nil {
				return err
			}
			if err := writeChecksums(dst, kubeChecksums); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeContainerd packs containerd's binaries as its Makefile's release
// target does: tar -C releases/NAME bin, so every member is under bin/.
// Debian does not package containerd-stress, a load generator nothing on
// a node runs; the tarball has every binary Debian ships.
func writeContainerd(dir string, rel releaseserver.Release, src treeSources) error {
	members, err := debMembers(containerdDeb, src, "bin/")
	if err != nil {
		return err
	}
	return writeTarball(dir, rel.ContainerdTarball(), members, containerdChecksums)
}

// writeRunc places the runc binary bare as runc.amd64 and lists it in
// runc.sha256sum. Upstream's file also lists the other architectures'
// binaries and the source tarball; the tree serves amd64 alone, and the
// checksum file names only what the tree serves, so every line verifies.
// Upstream's runc.amd64 is static; Debian's links libseccomp.so.2 and libc,
// which every Debian node image has (apt depends on libseccomp2).
func writeRunc(dir string, rel releaseserver.Release, src treeSources) error {
	root := src.debRoots[runcDeb.Package]
	if _, err := runcDeb.files(root); err != nil {
		return err
	}
	dst, err := place(dir, rel.RuncBinary())
	if err != nil {
		return err
	}
	if err := copyFile(filepath.Join(root, runcDeb.Dir, "runc"), dst); err != nil {
		return err
	}
	sums, err := place(dir, rel.RuncChecksums())
	if err != nil {
		return err
	}
	return writeSumFile(sums, sha256Algo, []string{filepath.Base(dst)})
}

// writeCrictl packs crictl as cri-tools' hack/release.sh does: tar -C DIR
// crictl, a single member at the top.
func writeCrictl(dir string, rel releaseserver.Release, src treeSources) error {
	members := []tarMember{{Name: "crictl", Source: filepath.Join(src.crictlBin, "crictl")}}
	return writeTarball(dir, rel.CrictlTarball(), members, crictlChecksums)
}

// writeCNI packs the plugins as containernetworking/plugins'
// scripts/release.sh does: tar -C bin ., so members are "./bridge" and so
// on, after a "./" entry for the directory itself.
func writeCNI(dir string, rel releaseserver.Release, src treeSources) error {
	members, err := debMembers(cniDeb, src, "./")
	if err != nil {
		return err
	}
	return writeTarball(dir, rel.CNITarball(), members, cniChecksums)
}

// debMembers lists a Debian package's files as tarball members under
// prefix, which gets a directory entry of its own first.
func debMembers(s debSource, src treeSources, prefix string) ([]tarMember, error) {
	root := src.debRoots[s.Package]
	names, err := s.files(root)
	if err != nil {
		return nil, err
	}
	members := []tarMember{{Name: prefix}}
	for _, n := range names {
		members = append(members, tarMember{Name: prefix + n, Source: filepath.Join(root, s.Dir, n)})
	}
	return members, nil
}

func writeTarball(dir, urlPath string, members []tarMember, sums []checksumFile) error {
	dst, err := place(dir, urlPath)
	if err != nil {
		return err
	}
	if err := writeTarGz(dst, members); err != nil {
		return err
	}
	return writeChecksums(dst, sums)
}

// place returns the file path of a URL path in the tree, creating its
// directory.
func place(dir, urlPath string) (string, error) {
	p := filepath.Join(dir, filepath.FromSlash(urlPath))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", fmt.Errorf("lay out %s: %w", urlPath, err)
	}
	return p, nil
}

// copyFile copies an executable, keeping its time so the tree's
// Last-Modified headers do not depend on when it was laid out.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	if err := writeAtomic(dst, 0o755, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	}); err != nil {
		return err
	}
	if err := os.Chtimes(dst, fi.ModTime(), fi.ModTime()); err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	return nil
}
