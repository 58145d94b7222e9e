package main

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// checksumAlgos maps a checksum file's suffix to its hash, for the
// verifier; every suffix the tree uses must be here.
var checksumAlgos = map[string]digestAlgo{
	".sha1":      sha1Algo,
	".sha256":    sha256Algo,
	".sha512":    sha512Algo,
	".sha256sum": sha256Algo,
}

// checksumSuffix returns the checksum suffix of path, or "" for an
// artifact.
func checksumSuffix(path string) string {
	ext := filepath.Ext(path)
	if _, ok := checksumAlgos[ext]; ok {
		return ext
	}
	return ""
}

// verifyChecksumFile checks a checksum file the way a consumer would, in
// either shape: a bare digest for the file named without the suffix, or
// sha256sum -c's "<digest>  <name>" lines for files in the same directory.
// It returns the files it verified.
func verifyChecksumFile(path string) ([]string, error) {
	algo := checksumAlgos[checksumSuffix(path)]
	if algo.new == nil {
		return nil, fmt.Errorf("%s: not a checksum file", path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	type entry struct{ digest, file string }
	var entries []entry
	if text := string(data); !strings.Contains(text, " ") {
		entries = append(entries, entry{strings.TrimSpace(text), strings.TrimSuffix(path, checksumSuffix(path))})
	} else {
		sc := bufio.NewScanner(strings.NewReader(text))
		for sc.Scan() {
			digest, name, ok := strings.Cut(sc.Text(), "  ")
			if !ok || strings.ContainsAny(name, "/\\") {
				return nil, fmt.Errorf("%s: malformed line %q", path, sc.Text())
			}
			entries = append(entries, entry{digest, filepath.Join(filepath.Dir(path), name)})
		}
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("%s: no checksums", path)
	}
	var files []string
	for _, e := range entries {
		if len(e.digest) != 2*algo.new().Size() {
			return nil, fmt.Errorf("%s: %q is not a %s digest", path, e.digest, algo.name)
		}
		got, err := fileDigest(e.file, algo)
		if err != nil {
			return nil, err
		}
		if got != e.digest {
			return nil, fmt.Errorf("%s: mismatch for %s: file has %s", path, filepath.Base(e.file), got)
		}
		files = append(files, e.file)
	}
	return files, nil
}

// verifyTree checks every checksum file in a tree and that every artifact
// has at least one.
func verifyTree(t *testing.T, dir string) (artifacts []string) {
	t.Helper()
	covered := map[string]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") {
			t.Errorf("stray hidden file in tree: %s", p)
			return nil
		}
		if checksumSuffix(p) == "" {
			artifacts = append(artifacts, p)
			return nil
		}
		files, err := verifyChecksumFile(p)
		if err != nil {
			t.Error(err)
		}
		for _, f := range files {
			covered[f] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range artifacts {
		if !covered[a] {
			t.Errorf("%s has no checksum file", a)
		}
	}
	return artifacts
}
