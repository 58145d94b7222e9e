package spec

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
)

// Spec is a loaded file: the typed image plus where each field came from,
// so that later stages (validation, the frontend, exec failures) can point
// users at the line that caused a problem.
type Spec struct {
	File  string
	Image NodeImage

	// pos maps field paths to the position of their key (or list element).
	pos map[string]Pos
	// overridden maps field paths to the build arg that set them, so
	// validation can blame the arg rather than the file.
	overridden map[string]string
}

// Position returns where a field was written in the file. Paths use dots
// for fields, [i] for list elements and the raw key after a dot for map
// entries: "os.packages[2]", "os.files[0].mode",
// "os.sysctl.net.ipv4.ip_forward". The empty path is the document itself.
// Fields that came from defaults or build args that replaced a list have
// no position of their own.
func (s *Spec) Position(field string) (Pos, bool) {
	p, ok := s.pos[field]
	return p, ok
}

// locate returns the position of field or of its nearest written
// ancestor, so that problems with no node of their own (a missing key, a
// defaulted value) still point somewhere useful.
func (s *Spec) locate(field string) Pos {
	for {
		if p, ok := s.pos[field]; ok {
			return p
		}
		if field == "" {
			return Pos{Line: 1, Column: 1}
		}
		field = parentPath(field)
	}
}

// parentPath strips the last element of a field path. Map keys may contain
// dots, so stripping one dot at a time may pass through paths that do not
// exist; locate simply keeps going.
func parentPath(field string) string {
	if strings.HasSuffix(field, "]") {
		if i := strings.LastIndex(field, "["); i >= 0 {
			return field[:i]
		}
	}
	if i := strings.LastIndex(field, "."); i >= 0 {
		return field[:i]
	}
	return ""
}

// Digest identifies the image a spec describes. It hashes a JSON encoding
// of Image (map keys sorted, empty values omitted, sizes canonical), so it
// is stable across runs and spellings and changes with any field. Call it
// after overrides and defaults so that it reflects what is built.
func (s *Spec) Digest() string {
	data, err := json.Marshal(s.Image)
	if err != nil {
		// Image holds only strings, slices, maps and ByteSize, whose
		// encoding cannot fail.
		panic("spec: encoding image for digest: " + err.Error())
	}
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// OSDigest identifies what a Kubernetes node's disk is first assembled
// from, before the Kubernetes layer is added: the digest of the image with
// its kubernetes section left out. The disk's identifiers derive from it, so
// that a Kubernetes version bump keeps the cached OS disk, whose filesystem
// UUID every ext4 metadata checksum depends on. Images differing only in
// Kubernetes therefore share partition GUIDs and filesystem UUIDs, as every
// VM started from one image does. The bootstrap stays in: it is installed
// in the OS layer. The validate: list is left out too: the checks file an
// image carries is written above the OS disk, so editing a check does not
// assemble the OS disk again.
func (s *Spec) OSDigest() string {
	os := *s
	if k := s.Image.Kubernetes; k != nil {
		os.Image.Kubernetes = &Kubernetes{Bootstrap: k.Bootstrap}
	}
	os.Image.Validate = CheckList{}
	return os.Digest()
}

// Load is the whole pipeline the frontend needs: parse, apply build-arg
// overrides, apply the defaults of the chosen distro and validate. The
// distro is os.distro after overrides, or DefaultDistro.
func Load(file string, data []byte, args map[string]string, distros map[string]Distro) (*Spec, error) {
	s, err := Parse(file, data)
	if err != nil {
		return nil, err
	}
	if err := s.ApplyOverrides(args); err != nil {
		return nil, err
	}
	if s.Image.OS.Distro == "" {
		s.Image.OS.Distro = DefaultDistro
	}
	name := s.Image.OS.Distro
	d, ok := distros[name]
	if !ok {
		// Validate reports the unknown distro; defaults from an empty
		// Distro keep it from also reporting follow-on problems.
		d = Distro{Name: name}
	}
	s.ApplyDefaults(d)
	if err := s.Validate(distros); err != nil {
		return nil, err
	}
	return s, nil
}
