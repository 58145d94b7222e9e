package checks

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// DefaultSecretScanMaxFile is the largest file the secret scan reads by
// default. Larger files are binaries and image archives, which a secret
// rarely ends up in and which would dominate the scan's time; the result
// lists them as skipped.
const DefaultSecretScanMaxFile = 256 << 20

// MinSecretLen is the shortest secret value scanned for: shorter values
// match by chance in a whole filesystem.
const MinSecretLen = 8

// Secret is a value no file in the image may contain. Name labels it in
// results; the value itself is never printed.
type Secret struct {
	Name  string
	Value []byte
}

// ReadSecretFile reads a secret value from a file, as a BuildKit secret
// is given (--secret id=NAME,src=FILE): the whole content, without one
// trailing newline. The secret is named after the file.
func ReadSecretFile(p string) (Secret, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return Secret{}, err
	}
	b = bytes.TrimSuffix(bytes.TrimSuffix(b, []byte("\n")), []byte("\r"))
	if len(b) < MinSecretLen {
		return Secret{}, fmt.Errorf("%s: a secret value of %d bytes would match by chance; the scan needs at least %d", p, len(b), MinSecretLen)
	}
	return Secret{Name: filepath.Base(p), Value: b}, nil
}

// needles are the byte strings the scan looks for: each value, and for a
// multi-line value (a PEM key) each line long enough to mean something,
// so that a key pasted with other line endings is still found.
func (s Secret) needles() [][]byte {
	out := [][]byte{s.Value}
	if bytes.ContainsAny(s.Value, "\r\n") {
		for _, l := range bytes.FieldsFunc(s.Value, func(r rune) bool { return r == '\n' || r == '\r' }) {
			if l = bytes.TrimSpace(l); len(l) >= 16 {
				out = append(out, l)
			}
		}
	}
	return out
}

// secretScan reads every regular file of the image (up to maxFile bytes
// each) once, looking for any secret.
type secretScan struct {
	secrets []Secret
	maxFile int64
}

func (s secretScan) Describe() string { return "no secret values in files" }

func (s secretScan) validate() error {
	for _, sec := range s.secrets {
		if len(sec.Value) < MinSecretLen {
			return fmt.Errorf("secret %s is %d bytes; the scan needs at least %d", sec.Name, len(sec.Value), MinSecretLen)
		}
	}
	return nil
}

// scanChunk is what one read covers; consecutive chunks overlap by the
// longest needle less a byte, so that a match across the seam is found.
const scanChunk = 1 << 20

func (s secretScan) evaluate(e *env) Outcome {
	if len(s.secrets) == 0 {
		return Outcome{Status: Skip, Detail: "no secret values given (--secret-value-file)"}
	}
	maxFile := s.maxFile
	if maxFile <= 0 {
		maxFile = DefaultSecretScanMaxFile
	}
	var files, skipped []string
	var total int64
	err := e.walk("/", func(p string, d fs.DirEntry) {
		if !d.Type().IsRegular() {
			return
		}
		info, err := d.Info()
		if err != nil {
			return
		}
		if info.Size() > maxFile {
			skipped = append(skipped, p)
			return
		}
		files = append(files, p)
		total += info.Size()
	})
	if err != nil {
		return errorOutcome("/", err)
	}
	hits, err := s.scan(e, files)
	if err != nil {
		return errorOutcome("", err)
	}
	summary := fmt.Sprintf("%d files (%s) scanned for %d secret(s)", len(files), formatBytes(total), len(s.secrets))
	if len(skipped) > 0 {
		summary += fmt.Sprintf("; %d over %s skipped: %s", len(skipped), formatBytes(maxFile), listing(skipped, 3))
	}
	if len(hits) > 0 {
		var where []string
		for _, h := range hits {
			where = append(where, h.path+" holds "+h.secret)
		}
		return Outcome{Status: Fail, Path: hits[0].path, Expected: "no secret values", Found: listing(where, 3),
			Detail: listing(where, 3) + " (" + summary + ")"}
	}
	return pass("", summary)
}

type secretHit struct{ path, secret string }

// scan reads each file once, through the file system's bulk reader when
// it has one.
func (s secretScan) scan(e *env, files []string) ([]secretHit, error) {
	type needle struct {
		secret string
		b      []byte
	}
	var needles []needle
	longest := 0
	for _, sec := range s.secrets {
		for _, n := range sec.needles() {
			needles = append(needles, needle{sec.Name, n})
			longest = max(longest, len(n))
		}
	}
	var hits []secretHit
	buf := make([]byte, scanChunk+longest)
	check := func(p string, r io.Reader) error {
		found := map[string]bool{}
		keep := 0 // bytes carried over from the previous chunk
		for {
			n, err := io.ReadFull(r, buf[keep:])
			window := buf[:keep+n]
			for _, nd := range needles {
				if !found[nd.secret] && bytes.Contains(window, nd.b) {
					found[nd.secret] = true
					hits = append(hits, secretHit{p, nd.secret})
				}
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("reading %s: %w", p, err)
			}
			keep = min(longest-1, len(window))
			copy(buf, window[len(window)-keep:])
		}
	}
	if br, ok := e.img.Root.(BulkReader); ok {
		names := make([]string, len(files))
		for i, f := range files {
			names[i] = rel(f)
		}
		err := br.ReadFiles(names, func(name string, r io.Reader) error { return check(abs(name), r) })
		return hits, err
	}
	for _, p := range files {
		f, err := e.open(p)
		if err != nil {
			return hits, err
		}
		err = check(p, f)
		f.Close()
		if err != nil {
			return hits, err
		}
	}
	return hits, nil
}
