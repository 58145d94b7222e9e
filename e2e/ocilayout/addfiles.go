package ocilayout

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// AddFiles writes to dst a layout holding the single image of the layout
// at src with one more layer on top: files, by absolute path, as regular
// files owned by root with mode 0644. It is how a test derives a base that
// differs in a configuration file (apt's sources, say) without running a
// build. src is left as it is; its blobs are copied (hard-linked where the
// filesystem allows). The result depends only on src and files.
func AddFiles(ctx context.Context, src, dst string, files map[string][]byte) (ocispec.Descriptor, error) {
	base, err := ReadManifest(src)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	blobDir := filepath.Join(dst, ocispec.ImageBlobsDir, digest.SHA256.String())
	if err := os.MkdirAll(blobDir, 0o755); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("create layout: %w", err)
	}
	w := &layoutWriter{dir: dst, blobDir: blobDir}
	var manifest ocispec.Manifest
	if err := readJSONBlob(src, base.Digest, &manifest); err != nil {
		return ocispec.Descriptor{}, err
	}
	var config ocispec.Image
	if err := readJSONBlob(src, manifest.Config.Digest, &config); err != nil {
		return ocispec.Descriptor{}, err
	}
	for _, l := range manifest.Layers {
		if err := linkBlob(src, blobDir, l.Digest); err != nil {
			return ocispec.Descriptor{}, err
		}
	}

	tarPath := filepath.Join(dst, ".added.tar")
	if err := writeFilesTar(tarPath, files); err != nil {
		return ocispec.Descriptor{}, err
	}
	defer os.Remove(tarPath)
	layer, diffID, err := w.writeLayer(ctx, tarPath)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	config.RootFS.DiffIDs = append(config.RootFS.DiffIDs, diffID)
	configDesc, err := w.writeJSON(ocispec.MediaTypeImageConfig, config)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("write image config: %w", err)
	}
	manifest.Config = configDesc
	manifest.Layers = append(manifest.Layers, layer)
	desc, err := w.writeJSON(ocispec.MediaTypeImageManifest, manifest)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("write manifest: %w", err)
	}
	if err := w.writeFile(ocispec.ImageLayoutFile, ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion}); err != nil {
		return ocispec.Descriptor{}, err
	}
	desc.Platform = base.Platform
	desc.Annotations = base.Annotations
	index := ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{desc},
	}
	if err := w.writeFile(ocispec.ImageIndexFile, index); err != nil {
		return ocispec.Descriptor{}, err
	}
	return desc, nil
}

func readJSONBlob(dir string, d digest.Digest, v any) error {
	data, err := os.ReadFile(filepath.Join(dir, ocispec.ImageBlobsDir, d.Algorithm().String(), d.Encoded()))
	if err != nil {
		return fmt.Errorf("read blob %s: %w", d, err)
	}
	if digest.FromBytes(data) != d {
		return fmt.Errorf("blob %s in %s does not match its digest", d, dir)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("parse blob %s: %w", d, err)
	}
	return nil
}

// linkBlob puts src's blob d into blobDir, as a hard link when both are
// on one filesystem.
func linkBlob(src, blobDir string, d digest.Digest) error {
	from := filepath.Join(src, ocispec.ImageBlobsDir, d.Algorithm().String(), d.Encoded())
	to := filepath.Join(blobDir, d.Encoded())
	if err := os.Link(from, to); err == nil || os.IsExist(err) {
		return nil
	}
	in, err := os.Open(from)
	if err != nil {
		return fmt.Errorf("copy blob %s: %w", d, err)
	}
	defer in.Close()
	tmp, err := os.CreateTemp(blobDir, ".blob-*")
	if err != nil {
		return fmt.Errorf("copy blob %s: %w", d, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return fmt.Errorf("copy blob %s: %w", d, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("copy blob %s: %w", d, err)
	}
	return (&layoutWriter{blobDir: blobDir}).commitBlob(tmp.Name(), d)
}

// writeFilesTar writes files into a tar in path order, with fixed times,
// so the layer's digest depends on the files alone.
func writeFilesTar(path string, files map[string][]byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	tw := tar.NewWriter(f)
	for _, name := range names {
		if !filepath.IsAbs(name) {
			return fmt.Errorf("%s: want an absolute path", name)
		}
		h := &tar.Header{Name: "." + name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(files[name])),
			ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(files[name]); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return f.Close()
}
