package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/images/archive"
	"github.com/moby/buildkit/util/contentutil"
	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// imageSpec is a single-layer linux/amd64 image made from files on disk,
// the shape of Kubernetes' release images: a binary added to a base.
type imageSpec struct {
	// Names are the references the archive tags the image with.
	Names []string
	// Files make up the image's only layer, in order.
	Files []imageFile
	// Entrypoint and User go into the image config as a Dockerfile's
	// ENTRYPOINT and USER would put them.
	Entrypoint []string
	User       string
	// Created stamps the config, the history and the layer's files, so the
	// same inputs give the same bytes.
	Created time.Time
	// CreatedBy is the history entry: how the image came to be.
	CreatedBy string
}

// imageFile is one regular file in the layer.
type imageFile struct {
	Path   string // in the image, relative: "usr/local/bin/kube-proxy"
	Source string // file on disk whose bytes it takes
	Mode   int64
}

// defaultPath is the PATH BuildKit's Dockerfile frontend gives an image
// built from scratch.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// writeImageTar writes s as the archive `docker buildx build --output
// type=docker` writes, which is how Kubernetes' release builds save
// kube-proxy.tar and its siblings: BuildKit's docker exporter, which is
// containerd's archive exporter with the Docker media types. The archive
// holds an OCI layout (oci-layout, index.json, blobs/sha256) plus Docker's
// manifest.json, so `docker load` and `ctr images import` both read it.
func writeImageTar(dst string, s imageSpec) error {
	ctx := context.Background()
	store := contentutil.NewBuffer()
	layer, diffID, err := imageLayer(s)
	if err != nil {
		return fmt.Errorf("image %s: %w", dst, err)
	}
	layerDesc, err := putBlob(ctx, store, images.MediaTypeDockerSchema2LayerGzip, layer)
	if err != nil {
		return err
	}
	created := s.Created.UTC()
	config := ocispec.Image{
		Created:  &created,
		Platform: ocispec.Platform{Architecture: "amd64", OS: "linux"},
		Config: ocispec.ImageConfig{
			Env:        []string{defaultPath},
			Entrypoint: s.Entrypoint,
			User:       s.User,
		},
		RootFS:  ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffID}},
		History: []ocispec.History{{Created: &created, CreatedBy: s.CreatedBy}},
	}
	configDesc, err := putJSON(ctx, store, images.MediaTypeDockerSchema2Config, config)
	if err != nil {
		return err
	}
	manifest := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: images.MediaTypeDockerSchema2Manifest,
		Config:    configDesc,
		Layers:    []ocispec.Descriptor{layerDesc},
	}
	manifestDesc, err := putJSON(ctx, store, images.MediaTypeDockerSchema2Manifest, manifest)
	if err != nil {
		return err
	}
	manifestDesc.Platform = &config.Platform
	return writeAtomic(dst, 0o644, func(w io.Writer) error {
		return archive.Export(ctx, store, w, archive.WithManifest(manifestDesc, s.Names...))
	})
}

// imageLayer returns the layer gzip-compressed and the digest of its
// uncompressed tar, the diff ID. Parent directories get entries of their
// own, as a Dockerfile's COPY makes them.
func imageLayer(s imageSpec) (layer []byte, diffID digest.Digest, err error) {
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	dirs := map[string]bool{}
	for _, f := range s.Files {
		for _, dir := range parents(f.Path) {
			if dirs[dir] {
				continue
			}
			dirs[dir] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755, ModTime: s.Created, Format: tar.FormatPAX}); err != nil {
				return nil, "", err
			}
		}
		data, err := os.ReadFile(f.Source)
		if err != nil {
			return nil, "", err
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: f.Path, Mode: f.Mode, Size: int64(len(data)), ModTime: s.Created, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, "", err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, "", err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	diffID = digest.FromBytes(raw.Bytes())
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz) // no name and no time in the header: same bytes every run
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return nil, "", err
	}
	if err := zw.Close(); err != nil {
		return nil, "", err
	}
	return gz.Bytes(), diffID, nil
}

// parents lists the directories above a relative path, outermost first.
func parents(p string) []string {
	var out []string
	for dir := path.Dir(p); dir != "." && dir != "/"; dir = path.Dir(dir) {
		out = append([]string{strings.TrimSuffix(dir, "/")}, out...)
	}
	return out
}

func putJSON(ctx context.Context, store content.Store, mediaType string, v any) (ocispec.Descriptor, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return putBlob(ctx, store, mediaType, data)
}

func putBlob(ctx context.Context, store content.Store, mediaType string, data []byte) (ocispec.Descriptor, error) {
	desc := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
	if err := content.WriteBlob(ctx, store, desc.Digest.String(), bytes.NewReader(data), desc); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("image blob %s: %w", desc.Digest, err)
	}
	return desc, nil
}
