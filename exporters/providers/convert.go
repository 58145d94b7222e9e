package providers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

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
	// GuestApplied says the disk was built with the provider's guest
	// configuration (the provider's build target does that); only then
	// does the manifest list it. Converting a disk applies nothing.
	GuestApplied bool
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
func Convert(ctx context.Context, src, dir string, p Provider, o Options) (*Manifest, error) {
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
	res, err := formats.Convert(ctx, src, filepath.Join(dir, f.OutputName(src)), f, o.Options)
	if err != nil {
		return nil, err
	}
	sum, err := fileSHA256(res.Path)
	if err != nil {
		return nil, err
	}
	m := &Manifest{
		Provider: p.Name, Source: o.Source, BootMode: p.BootMode, Architecture: "x86_64",
		VirtualSize: res.VirtualSize,
		Files:       []File{{Name: filepath.Base(res.Path), Format: f.Name, Size: res.Size, SHA256: sum}},
		Import:      p.Import, Docs: p.Docs,
		Reuse: res.Reuse,
	}
	if o.GuestApplied && !p.Guest.Empty() {
		m.Guest = &p.Guest
	}
	return m, writeManifest(filepath.Join(dir, ManifestFile), m)
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

// writeManifest writes m atomically, like the image beside it.
func writeManifest(path string, m *Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
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
