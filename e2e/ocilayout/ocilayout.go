// Package ocilayout turns a root filesystem tarball into a single-image OCI
// image layout directory.
//
// The e2e tests use it to hand an mmdebstrap-built Debian base to BuildKit as
// a named build context (oci-layout://DIR@sha256:...), so no container
// registry is needed. The output depends only on the tar's bytes and the
// reference name: the same input always gives the same digests.
package ocilayout

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// DefaultPath is the PATH set in the image config. It is the one Debian's
// own container images use, so RUN steps find the same tools either way.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// platform is fixed: the fixture is built with the host's mmdebstrap on
// amd64 CI machines, and the tar carries no record of its architecture.
var platform = ocispec.Platform{Architecture: "amd64", OS: "linux"}

// FromTar writes an OCI image layout to dir holding one image whose only
// layer is rootfsTar, and returns the manifest's descriptor.
//
// dir is created if needed. index.json is written last and replaced
// atomically, so its presence means the layout is complete; it lists exactly
// one manifest, annotated with org.opencontainers.image.ref.name=refName.
// The tar is read once, hashed and compressed on the fly, never held in
// memory. The image config carries no creation time so that the
// digests depend on the tar's contents alone.
//
// env replaces the config's default environment (PATH=DefaultPath).
func FromTar(ctx context.Context, rootfsTar, dir, refName string, env ...string) (ocispec.Descriptor, error) {
	if len(env) == 0 {
		env = []string{"PATH=" + DefaultPath}
	}
	blobDir := filepath.Join(dir, ocispec.ImageBlobsDir, digest.SHA256.String())
	if err := os.MkdirAll(blobDir, 0o755); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("create layout: %w", err)
	}
	w := &layoutWriter{dir: dir, blobDir: blobDir}

	layer, diffID, err := w.writeLayer(ctx, rootfsTar)
	if err != nil {
		return ocispec.Descriptor{}, err
	}

	config := ocispec.Image{
		Platform: platform,
		Config: ocispec.ImageConfig{
			Env: env,
			Cmd: []string{"/bin/bash"},
		},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffID}},
	}
	configDesc, err := w.writeJSON(ocispec.MediaTypeImageConfig, config)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("write image config: %w", err)
	}

	manifest := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    configDesc,
		Layers:    []ocispec.Descriptor{layer},
	}
	manifestDesc, err := w.writeJSON(ocispec.MediaTypeImageManifest, manifest)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("write manifest: %w", err)
	}

	if err := w.writeFile(ocispec.ImageLayoutFile, ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion}); err != nil {
		return ocispec.Descriptor{}, err
	}

	// The index entry carries the platform and ref name; the returned
	// descriptor is the same one, so callers can compare it with index.json.
	manifestDesc.Platform = &platform
	manifestDesc.Annotations = map[string]string{ocispec.AnnotationRefName: refName}
	index := ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{manifestDesc},
	}
	if err := w.writeFile(ocispec.ImageIndexFile, index); err != nil {
		return ocispec.Descriptor{}, err
	}
	return manifestDesc, nil
}

// ReadManifest returns the single manifest descriptor listed in the
// index.json of the layout at dir. It fails if the index lists anything but
// exactly one manifest, because the fixture is always referenced by that one
// digest.
func ReadManifest(dir string) (ocispec.Descriptor, error) {
	data, err := os.ReadFile(filepath.Join(dir, ocispec.ImageIndexFile))
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("read index: %w", err)
	}
	var index ocispec.Index
	if err := json.Unmarshal(data, &index); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("parse %s: %w", filepath.Join(dir, ocispec.ImageIndexFile), err)
	}
	if len(index.Manifests) != 1 {
		return ocispec.Descriptor{}, fmt.Errorf("%s: want exactly one manifest, found %d", filepath.Join(dir, ocispec.ImageIndexFile), len(index.Manifests))
	}
	m := index.Manifests[0]
	if err := m.Digest.Validate(); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%s: manifest digest: %w", filepath.Join(dir, ocispec.ImageIndexFile), err)
	}
	return m, nil
}

// layoutWriter writes files of one layout directory.
type layoutWriter struct {
	dir     string
	blobDir string
}

// writeLayer compresses the tar at path into a blob and returns the layer
// descriptor and the digest of the uncompressed tar (the diff ID).
func (w *layoutWriter) writeLayer(ctx context.Context, path string) (ocispec.Descriptor, digest.Digest, error) {
	src, err := os.Open(path)
	if err != nil {
		return ocispec.Descriptor{}, "", fmt.Errorf("open rootfs tar: %w", err)
	}
	defer src.Close()

	tmp, err := os.CreateTemp(w.blobDir, ".layer-*")
	if err != nil {
		return ocispec.Descriptor{}, "", fmt.Errorf("create layer blob: %w", err)
	}
	defer func() {
		// After a successful rename this fails harmlessly.
		tmp.Close()
		os.Remove(tmp.Name())
	}()

	blobHash := sha256.New()
	blobCount := &countWriter{}
	// A zero header leaves out the name and modification time, which is what
	// keeps the compressed bytes (and so the layer digest) reproducible.
	gz, err := gzip.NewWriterLevel(io.MultiWriter(tmp, blobHash, blobCount), gzip.DefaultCompression)
	if err != nil {
		return ocispec.Descriptor{}, "", fmt.Errorf("gzip: %w", err)
	}
	diffHash := sha256.New()
	in := io.TeeReader(&ctxReader{ctx: ctx, r: src}, io.MultiWriter(gz, diffHash))

	// Walking the archive while compressing rejects a file that is not a
	// tar before it can turn into a layer BuildKit fails on much later.
	if err := checkTar(in); err != nil {
		return ocispec.Descriptor{}, "", fmt.Errorf("read rootfs tar %s: %w", path, err)
	}
	// The end-of-archive padding after the last header still belongs to
	// the diff ID.
	if _, err := io.Copy(io.Discard, in); err != nil {
		return ocispec.Descriptor{}, "", fmt.Errorf("read rootfs tar %s: %w", path, err)
	}
	if err := gz.Close(); err != nil {
		return ocispec.Descriptor{}, "", fmt.Errorf("compress layer: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return ocispec.Descriptor{}, "", fmt.Errorf("write layer blob: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return ocispec.Descriptor{}, "", fmt.Errorf("write layer blob: %w", err)
	}

	desc := ocispec.Descriptor{
		MediaType: ocispec.MediaTypeImageLayerGzip,
		Digest:    sumDigest(blobHash),
		Size:      blobCount.n,
	}
	if err := w.commitBlob(tmp.Name(), desc.Digest); err != nil {
		return ocispec.Descriptor{}, "", err
	}
	return desc, sumDigest(diffHash), nil
}

// checkTar reads every entry of a tar stream.
func checkTar(r io.Reader) error {
	tr := tar.NewReader(r)
	entries := 0
	for {
		_, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		entries++
		if _, err := io.Copy(io.Discard, tr); err != nil {
			return err
		}
	}
	if entries == 0 {
		return errors.New("archive has no entries")
	}
	return nil
}

// writeJSON stores v as a blob and returns its descriptor.
func (w *layoutWriter) writeJSON(mediaType string, v any) (ocispec.Descriptor, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	d := digest.FromBytes(data)
	tmp, err := writeTemp(w.blobDir, data)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if err := w.commitBlob(tmp, d); err != nil {
		os.Remove(tmp)
		return ocispec.Descriptor{}, err
	}
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(data))}, nil
}

// writeFile stores v as JSON in a top-level file of the layout.
func (w *layoutWriter) writeFile(name string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	tmp, err := writeTemp(w.dir, data)
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.Rename(tmp, filepath.Join(w.dir, name)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// commitBlob moves a finished temporary file to its content address.
func (w *layoutWriter) commitBlob(tmp string, d digest.Digest) error {
	if err := os.Chmod(tmp, 0o644); err != nil {
		return fmt.Errorf("store blob %s: %w", d, err)
	}
	if err := os.Rename(tmp, filepath.Join(w.blobDir, d.Encoded())); err != nil {
		return fmt.Errorf("store blob %s: %w", d, err)
	}
	return nil
}

// writeTemp writes data to a new temporary file in dir and returns its path.
func writeTemp(dir string, data []byte) (string, error) {
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return "", err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

func sumDigest(h hash.Hash) digest.Digest {
	return digest.NewDigest(digest.SHA256, h)
}

// countWriter counts the bytes written through it.
type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// ctxReader stops a long copy once its context is cancelled; a base image
// tar is hundreds of megabytes.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// LayerBlobs returns the paths of the layers of the layout's one image,
// bottom first, for a caller that unpacks them.
func LayerBlobs(dir string) ([]string, error) {
	desc, err := ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	var m ocispec.Manifest
	if err := readJSONBlob(dir, desc.Digest, &m); err != nil {
		return nil, err
	}
	paths := make([]string, len(m.Layers))
	for i, l := range m.Layers {
		paths[i] = filepath.Join(dir, ocispec.ImageBlobsDir, l.Digest.Algorithm().String(), l.Digest.Encoded())
	}
	return paths, nil
}
