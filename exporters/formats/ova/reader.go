package ova

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"strings"
)

// File is one file of a package, in archive order.
type File struct {
	Name   string
	Size   int64
	SHA256 string // hex
}

// Package is what Read found in an OVA.
type Package struct {
	Files []File
	OVF   []byte
	// Disks are the OVF's disks: file name, virtual capacity in bytes.
	Disks []Disk
}

// Disk is a disk the OVF descriptor declares.
type Disk struct {
	File     string
	Capacity int64
	Format   string
}

// maxSmallFile bounds the descriptor and manifest, which are read into
// memory.
const maxSmallFile = 1 << 20

// Read reads an OVA from r and checks it: the OVF descriptor comes first,
// every file the descriptor references is there with the declared size,
// and a manifest lists a SHA-256 digest for every other file that matches
// it. Each file's content also goes to sink, if not nil, as it streams by.
func Read(r io.Reader, sink func(name string, r io.Reader) error) (*Package, error) {
	p, err := read(r, sink)
	if err != nil {
		return nil, fmt.Errorf("ova: %w", err)
	}
	return p, nil
}

func read(r io.Reader, sink func(string, io.Reader) error) (*Package, error) {
	tr := tar.NewReader(r)
	p := &Package{}
	var manifest []byte
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if h.Typeflag != tar.TypeReg || strings.Contains(h.Name, "/") {
			return nil, fmt.Errorf("%q is not a plain file at the top of the package", h.Name)
		}
		first := len(p.Files) == 0
		if first != (path.Ext(h.Name) == ".ovf") {
			return nil, fmt.Errorf("the OVF descriptor must be the first file and the only one (found %q at position %d)", h.Name, len(p.Files)+1)
		}
		sum := sha256.New()
		var body io.Reader = io.TeeReader(tr, sum)
		var small bytes.Buffer
		if first || path.Ext(h.Name) == ".mf" {
			if h.Size > maxSmallFile {
				return nil, fmt.Errorf("%s is implausibly large (%d bytes)", h.Name, h.Size)
			}
			body = io.TeeReader(body, &small)
		}
		if sink != nil {
			err = sink(h.Name, body)
		} else {
			_, err = io.Copy(io.Discard, body)
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", h.Name, err)
		}
		if _, err := io.Copy(io.Discard, body); err != nil { // whatever sink left
			return nil, fmt.Errorf("reading %s: %w", h.Name, err)
		}
		switch {
		case first:
			p.OVF = small.Bytes()
		case path.Ext(h.Name) == ".mf":
			manifest = small.Bytes()
		}
		p.Files = append(p.Files, File{Name: h.Name, Size: h.Size, SHA256: hex.EncodeToString(sum.Sum(nil))})
	}
	if len(p.Files) == 0 {
		return nil, errors.New("the package is empty")
	}
	if err := p.checkReferences(); err != nil {
		return nil, err
	}
	if manifest == nil {
		return nil, errors.New("no manifest (.mf)")
	}
	return p, p.checkManifest(manifest)
}

var manifestLine = regexp.MustCompile(`^(SHA1|SHA256|SHA512) ?\(([^)]+)\) ?= ?([0-9a-fA-F]+)$`)

// checkManifest checks that the manifest has a SHA-256 line for every
// file but itself, and that each digest is right.
func (p *Package) checkManifest(mf []byte) error {
	listed := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(mf))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		m := manifestLine.FindStringSubmatch(line)
		if m == nil {
			return fmt.Errorf("manifest line %q is malformed", line)
		}
		if m[1] != "SHA256" {
			return fmt.Errorf("manifest uses %s; only SHA256 is checked", m[1])
		}
		listed[m[2]] = strings.ToLower(m[3])
	}
	for _, f := range p.Files {
		if path.Ext(f.Name) == ".mf" {
			continue
		}
		want, ok := listed[f.Name]
		if !ok {
			return fmt.Errorf("the manifest does not list %s", f.Name)
		}
		if want != f.SHA256 {
			return fmt.Errorf("%s: manifest says SHA256 %s, the file's is %s", f.Name, want, f.SHA256)
		}
		delete(listed, f.Name)
	}
	for name := range listed {
		return fmt.Errorf("the manifest lists %s, which the package lacks", name)
	}
	return nil
}

// ovfRefs is what the checks need from a descriptor, matched by local
// element and attribute names.
type ovfRefs struct {
	Files []struct {
		Href string `xml:"href,attr"`
		ID   string `xml:"id,attr"`
		Size int64  `xml:"size,attr"`
	} `xml:"References>File"`
	Disks []struct {
		Capacity int64  `xml:"capacity,attr"`
		Units    string `xml:"capacityAllocationUnits,attr"`
		FileRef  string `xml:"fileRef,attr"`
		Format   string `xml:"format,attr"`
	} `xml:"DiskSection>Disk"`
}

func (p *Package) checkReferences() error {
	var refs ovfRefs
	if err := xml.Unmarshal(p.OVF, &refs); err != nil {
		return fmt.Errorf("OVF descriptor: %w", err)
	}
	sizes := map[string]int64{}
	for _, f := range p.Files {
		sizes[f.Name] = f.Size
	}
	byID := map[string]string{}
	for _, f := range refs.Files {
		size, ok := sizes[f.Href]
		if !ok {
			return fmt.Errorf("the descriptor references %s, which the package lacks", f.Href)
		}
		if f.Size != 0 && f.Size != size {
			return fmt.Errorf("%s: the descriptor says %d bytes, the file has %d", f.Href, f.Size, size)
		}
		byID[f.ID] = f.Href
	}
	for _, d := range refs.Disks {
		name, ok := byID[d.FileRef]
		if !ok {
			return fmt.Errorf("a disk refers to file id %q, which References lacks", d.FileRef)
		}
		if d.Units != "" && d.Units != "byte" {
			return fmt.Errorf("disk %s: capacity units %q are not supported", name, d.Units)
		}
		p.Disks = append(p.Disks, Disk{File: name, Capacity: d.Capacity, Format: d.Format})
	}
	return nil
}
