package providers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/strata-dev/strata/exporters/atomicfile"
	"github.com/strata-dev/strata/exporters/formats"
)

// ManifestFile is the manifest's name in the output directory.
const ManifestFile = "manifest.json"

// Options shape a conversion for a provider.
type Options struct {
	formats.Options
	// Format overrides the provider's default format; it must be one the
	// provider imports.
	Format string
	// Source describes where the disk came from, for the manifest.
	Source Source
	// GuestApplied is the part of the provider's guest configuration the
	// disk was built with (the provider's build target applies it: all of
	// it, or on a vendor's disk the datasources alone); the manifest lists
	// that. Converting a disk applies nothing.
	GuestApplied *Guest
}

// Source is the build a disk came from; empty fields stay out of the
// manifest (a disk the user brought has no spec).
type Source struct {
	SpecName      string `json:"spec_name,omitempty"`
	SpecDigest    string `json:"spec_digest,omitempty"`
	StrataVersion string `json:"strata_version,omitempty"`
}

// Manifest describes a provider's output directory, in the spirit of
// Packer's manifest post-processor: enough for a pipeline to upload and
// register the image without knowing the provider's details.
type Manifest struct {
	Provider string `json:"provider"`
	Source
	BootMode     string         `json:"boot_mode"`
	Architecture string         `json:"architecture"`
	VirtualSize  int64          `json:"virtual_size"`
	Files        []File         `json:"files"`
	Guest        *Guest         `json:"guest,omitempty"` // what the image was built with
	Import       map[string]any `json:"import,omitempty"`
	Docs         string         `json:"docs,omitempty"`
	// Reuse says how Options.Reuse served. It describes the run, not the
	// image, so it stays out of the file.
	Reuse *formats.ReuseStats `json:"-"`
}

// File is one file the provider imports.
type File struct {
	Name   string `json:"name"`
	Format string `json:"format"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Convert writes the raw disk src as provider p imports it into dir, with
// a manifest. Sizes and format are checked before anything is written.
// The image and the manifest are written under temporary names; an older
// manifest goes just before the image is renamed into place and the new
// one follows it, so no manifest ever describes an image it does not
// match, and a failed run leaves an earlier output whole.
func Convert(ctx context.Context, src, dir string, p Provider, o Options) (_ *Manifest, err error) {
	name, err := p.Format(o.Format)
	if err != nil {
		return nil, err
	}
	f, err := formats.Lookup(name)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(src)
	if err != nil {
		return nil, err
	}
	if err := p.CheckSize(st.Size()); err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	img, err := formats.ConvertPending(ctx, src, filepath.Join(dir, f.OutputName(src)), f, o.Options)
	if err != nil {
		return nil, err
	}
	defer img.Discard()
	sum, err := fileSHA256(img.TempPath())
	if err != nil {
		return nil, err
	}
	m := &Manifest{
		Provider: p.Name, Source: o.Source, BootMode: p.BootMode, Architecture: "x86_64",
		VirtualSize: img.VirtualSize,
		Files:       []File{{Name: filepath.Base(img.Path), Format: f.Name, Size: img.Size, SHA256: sum}},
		Import:      p.Import, Docs: p.Docs,
		Reuse: img.Reuse,
	}
	if g := o.GuestApplied; g != nil && !g.Empty() {
		m.Guest = g
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	manifest, err := atomicfile.Create(filepath.Join(dir, ManifestFile), 0o644)
	if err != nil {
		return nil, err
	}
	defer manifest.AbortOnError(&err)
	if _, err := manifest.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("writing %s: %w", manifest.Final(), err)
	}
	if err := os.Remove(manifest.Final()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err := img.Commit(); err != nil {
		return nil, err
	}
	if err := manifest.Commit(); err != nil {
		return nil, err
	}
	return m, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hashing %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ImageIn finds the image of the named format in dir, a provider's output
// directory, through its manifest: a reuse image for the next conversion.
func ImageIn(dir, format string) (string, error) {
	m, err := ReadManifest(dir)
	if err != nil {
		return "", err
	}
	for _, f := range m.Files {
		if f.Format == format {
			return filepath.Join(dir, f.Name), nil
		}
	}
	return "", fmt.Errorf("%s: the manifest lists no %s image", dir, format)
}

// ReadManifest reads the manifest in dir.
func ReadManifest(dir string) (*Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, ManifestFile), err)
	}
	return &m, nil
}
