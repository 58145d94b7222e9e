package main

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// checksumStyle is how a project writes a checksum file. Each project's
// consumers parse their own style, so the tree must copy it byte for byte.
type checksumStyle int

const (
	// bareDigest is the digest alone with no newline: dl.k8s.io's
	// kubelet.sha256 (kubernetes/release writes the hex string as is).
	bareDigest checksumStyle = iota
	// bareDigestLine is the digest and a newline: cri-tools' .sha256
	// (hack/release.sh tees awk's first field).
	bareDigestLine
	// sumLines is sha256sum's output, "<digest>  <name>\n" per file:
	// containerd's .sha256sum, runc.sha256sum, the CNI plugins' .sha256.
	sumLines
)

// digestAlgo is a hash a checksum file carries.
type digestAlgo struct {
	name string
	new  func() hash.Hash
}

var (
	sha1Algo   = digestAlgo{"sha1", sha1.New}
	sha256Algo = digestAlgo{"sha256", sha256.New}
	sha512Algo = digestAlgo{"sha512", sha512.New}
)

// checksumFile is one checksum file published next to an artifact, named
// by appending Suffix to the artifact's name.
type checksumFile struct {
	Suffix string
	Algo   digestAlgo
	Style  checksumStyle
}

// The checksum files each project publishes next to an artifact.
var (
	// dl.k8s.io has .sha256 and .sha512 for every binary.
	kubeChecksums = []checksumFile{
		{".sha256", sha256Algo, bareDigest},
		{".sha512", sha512Algo, bareDigest},
	}
	// containerd's Makefile release target: sha256sum > X.tar.gz.sha256sum.
	containerdChecksums = []checksumFile{
		{".sha256sum", sha256Algo, sumLines},
	}
	// cri-tools' hack/release.sh: a .sha256 and a .sha512 per tarball.
	crictlChecksums = []checksumFile{
		{".sha256", sha256Algo, bareDigestLine},
		{".sha512", sha512Algo, bareDigestLine},
	}
	// containernetworking/plugins' scripts/release.sh runs sha1sum,
	// sha256sum and sha512sum on each tarball.
	cniChecksums = []checksumFile{
		{".sha1", sha1Algo, sumLines},
		{".sha256", sha256Algo, sumLines},
		{".sha512", sha512Algo, sumLines},
	}
)

// formatChecksum renders one file's digest in a style. name is the file's
// base name, which only sumLines records.
func formatChecksum(style checksumStyle, digest, name string) string {
	switch style {
	case bareDigest:
		return digest
	case bareDigestLine:
		return digest + "\n"
	default:
		return digest + "  " + name + "\n"
	}
}

// fileDigest returns the hex digest of the file at path.
func fileDigest(path string, algo digestAlgo) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", algo.name, path, err)
	}
	defer f.Close()
	h := algo.new()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s %s: %w", algo.name, path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeChecksums writes each of files next to the artifact at path.
func writeChecksums(path string, files []checksumFile) error {
	for _, c := range files {
		digest, err := fileDigest(path, c.Algo)
		if err != nil {
			return err
		}
		content := formatChecksum(c.Style, digest, filepath.Base(path))
		if err := writeFileAtomic(path+c.Suffix, []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// writeSumFile writes one sha256sum-style file at path listing the named
// files of its directory, in the order given, as runc does for all its
// release assets in runc.sha256sum.
func writeSumFile(path string, algo digestAlgo, names []string) error {
	var b strings.Builder
	for _, name := range names {
		digest, err := fileDigest(filepath.Join(filepath.Dir(path), name), algo)
		if err != nil {
			return err
		}
		b.WriteString(formatChecksum(sumLines, digest, name))
	}
	return writeFileAtomic(path, []byte(b.String()), 0o644)
}
