package ocilayout

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// writeRootfsTar writes a small tar shaped like mmdebstrap's output: a "./"
// prefix, directories, a symlink, a hard link and a setuid file.
func writeRootfsTar(t *testing.T, path string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(1700000000, 0)
	add := func(h *tar.Header, body string) {
		h.ModTime = mtime
		h.Format = tar.FormatPAX
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if body != "" {
			if _, err := tw.Write([]byte(body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	add(&tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755}, "")
	add(&tar.Header{Name: "./usr/", Typeflag: tar.TypeDir, Mode: 0o755}, "")
	add(&tar.Header{Name: "./usr/bin/", Typeflag: tar.TypeDir, Mode: 0o755}, "")
	add(&tar.Header{Name: "./usr/bin/bash", Typeflag: tar.TypeReg, Mode: 0o755}, "#!fake bash\n")
	add(&tar.Header{Name: "./usr/bin/su", Typeflag: tar.TypeReg, Mode: 0o4755}, "setuid\n")
	add(&tar.Header{Name: "./usr/bin/sh", Typeflag: tar.TypeLink, Linkname: "./usr/bin/bash"}, "")
	add(&tar.Header{Name: "./bin", Typeflag: tar.TypeSymlink, Linkname: "usr/bin"}, "")
	add(&tar.Header{Name: "./etc/", Typeflag: tar.TypeDir, Mode: 0o755}, "")
	add(&tar.Header{Name: "./etc/os-release", Typeflag: tar.TypeReg, Mode: 0o644}, strings.Repeat("ID=debian\n", 500))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readBlob reads a blob and checks that its content matches its descriptor.
func readBlob(t *testing.T, dir string, d ocispec.Descriptor) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "blobs", d.Digest.Algorithm().String(), d.Digest.Encoded()))
	if err != nil {
		t.Fatalf("blob %s: %v", d.Digest, err)
	}
	if got := digest.FromBytes(data); got != d.Digest {
		t.Errorf("blob %s has content digest %s", d.Digest, got)
	}
	if int64(len(data)) != d.Size {
		t.Errorf("blob %s: size %d, descriptor says %d", d.Digest, len(data), d.Size)
	}
	return data
}

// decodeStrict unmarshals JSON, rejecting fields the image-spec types don't
// know, so a typo in a field name cannot pass.
func decodeStrict(t *testing.T, data []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %T: %v\n%s", v, err, data)
	}
}

func TestFromTar(t *testing.T) {
	tmp := t.TempDir()
	tarPath := filepath.Join(tmp, "rootfs.tar")
	tarBytes := writeRootfsTar(t, tarPath)
	dir := filepath.Join(tmp, "oci")

	desc, err := FromTar(context.Background(), tarPath, dir, "os-base")
	if err != nil {
		t.Fatal(err)
	}

	layoutData, err := os.ReadFile(filepath.Join(dir, "oci-layout"))
	if err != nil {
		t.Fatal(err)
	}
	var layout ocispec.ImageLayout
	decodeStrict(t, layoutData, &layout)
	if layout.Version != ocispec.ImageLayoutVersion {
		t.Errorf("oci-layout version %q", layout.Version)
	}

	indexData, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var index ocispec.Index
	decodeStrict(t, indexData, &index)
	if index.SchemaVersion != 2 || index.MediaType != ocispec.MediaTypeImageIndex {
		t.Errorf("index header: schemaVersion %d, mediaType %q", index.SchemaVersion, index.MediaType)
	}
	// BuildKit's oci-layout source resolves one digest; a second entry
	// would make the fixture's reference ambiguous.
	if len(index.Manifests) != 1 {
		t.Fatalf("index lists %d manifests, want 1", len(index.Manifests))
	}
	entry := index.Manifests[0]
	if !reflect.DeepEqual(entry, desc) {
		t.Errorf("index entry %+v differs from returned descriptor %+v", entry, desc)
	}
	if entry.MediaType != ocispec.MediaTypeImageManifest {
		t.Errorf("index entry media type %q", entry.MediaType)
	}
	if got := entry.Annotations[ocispec.AnnotationRefName]; got != "os-base" {
		t.Errorf("ref name annotation %q", got)
	}
	if entry.Platform == nil || entry.Platform.OS != "linux" || entry.Platform.Architecture != "amd64" {
		t.Errorf("index entry platform %+v", entry.Platform)
	}
	if read, err := ReadManifest(dir); err != nil || read.Digest != desc.Digest {
		t.Errorf("ReadManifest = %v, %v; want %s", read.Digest, err, desc.Digest)
	}

	var manifest ocispec.Manifest
	decodeStrict(t, readBlob(t, dir, entry), &manifest)
	if manifest.SchemaVersion != 2 || manifest.MediaType != ocispec.MediaTypeImageManifest {
		t.Errorf("manifest header: schemaVersion %d, mediaType %q", manifest.SchemaVersion, manifest.MediaType)
	}
	if manifest.Config.MediaType != ocispec.MediaTypeImageConfig {
		t.Errorf("config media type %q", manifest.Config.MediaType)
	}
	if len(manifest.Layers) != 1 {
		t.Fatalf("manifest has %d layers, want 1", len(manifest.Layers))
	}
	layerDesc := manifest.Layers[0]
	if layerDesc.MediaType != ocispec.MediaTypeImageLayerGzip {
		t.Errorf("layer media type %q", layerDesc.MediaType)
	}

	var config ocispec.Image
	decodeStrict(t, readBlob(t, dir, manifest.Config), &config)
	if config.Architecture != "amd64" || config.OS != "linux" {
		t.Errorf("config platform %s/%s", config.OS, config.Architecture)
	}
	if want := []string{"PATH=" + DefaultPath}; !reflect.DeepEqual(config.Config.Env, want) {
		t.Errorf("config Env %q, want %q", config.Config.Env, want)
	}
	if want := []string{"/bin/bash"}; !reflect.DeepEqual(config.Config.Cmd, want) {
		t.Errorf("config Cmd %q, want %q", config.Config.Cmd, want)
	}
	if config.RootFS.Type != "layers" {
		t.Errorf("rootfs type %q", config.RootFS.Type)
	}
	if want := []digest.Digest{digest.FromBytes(tarBytes)}; !reflect.DeepEqual(config.RootFS.DiffIDs, want) {
		t.Errorf("diff_ids %v, want %v", config.RootFS.DiffIDs, want)
	}

	// The layer must decompress to the input byte for byte and must not
	// carry a name or timestamp in its gzip header.
	layerData := readBlob(t, dir, layerDesc)
	zr, err := gzip.NewReader(bytes.NewReader(layerData))
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || zr.Comment != "" || !zr.ModTime.IsZero() {
		t.Errorf("gzip header has name %q, comment %q, mtime %v", zr.Name, zr.Comment, zr.ModTime)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(plain, tarBytes) {
		t.Errorf("layer decompresses to %d bytes that differ from the %d-byte input", len(plain), len(tarBytes))
	}

	// Every blob file must be referenced and no temporary files remain.
	want := map[string]bool{entry.Digest.Encoded(): true, manifest.Config.Digest.Encoded(): true, layerDesc.Digest.Encoded(): true}
	files, err := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !want[f.Name()] {
			t.Errorf("unexpected file blobs/sha256/%s", f.Name())
		}
	}
	top, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range top {
		if n := f.Name(); n != "blobs" && n != "oci-layout" && n != "index.json" {
			t.Errorf("unexpected file %s in layout", n)
		}
	}
}

func TestFromTarDeterministic(t *testing.T) {
	tmp := t.TempDir()
	tarPath := filepath.Join(tmp, "rootfs.tar")
	writeRootfsTar(t, tarPath)

	a, err := FromTar(context.Background(), tarPath, filepath.Join(tmp, "a"), "os-base")
	if err != nil {
		t.Fatal(err)
	}
	// A different modification time on the input file must not matter.
	if err := os.Chtimes(tarPath, time.Now(), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	b, err := FromTar(context.Background(), tarPath, filepath.Join(tmp, "b"), "os-base")
	if err != nil {
		t.Fatal(err)
	}
	if a.Digest != b.Digest {
		t.Fatalf("manifest digests differ: %s vs %s", a.Digest, b.Digest)
	}
	for _, name := range []string{"index.json", "oci-layout"} {
		da, _ := os.ReadFile(filepath.Join(tmp, "a", name))
		db, _ := os.ReadFile(filepath.Join(tmp, "b", name))
		if !bytes.Equal(da, db) {
			t.Errorf("%s differs between runs", name)
		}
	}

	// Writing again into the same directory replaces the index rather than
	// appending to it.
	c, err := FromTar(context.Background(), tarPath, filepath.Join(tmp, "a"), "other")
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadManifest(filepath.Join(tmp, "a"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != c.Digest || got.Annotations[ocispec.AnnotationRefName] != "other" {
		t.Errorf("rewritten index has %s %v", got.Digest, got.Annotations)
	}
}

func TestFromTarRejectsNonTar(t *testing.T) {
	tmp := t.TempDir()
	bad := filepath.Join(tmp, "bad.tar")
	if err := os.WriteFile(bad, bytes.Repeat([]byte("not a tar "), 100), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := FromTar(context.Background(), bad, filepath.Join(tmp, "oci"), "x"); err == nil {
		t.Fatal("FromTar accepted a file that is not a tar")
	}
	if _, err := os.Stat(filepath.Join(tmp, "oci", "index.json")); !os.IsNotExist(err) {
		t.Errorf("index.json written for a failed conversion (stat: %v)", err)
	}
	if _, err := FromTar(context.Background(), filepath.Join(tmp, "missing.tar"), filepath.Join(tmp, "oci"), "x"); err == nil {
		t.Fatal("FromTar accepted a missing file")
	}
}

func TestFromTarCancelled(t *testing.T) {
	tmp := t.TempDir()
	tarPath := filepath.Join(tmp, "rootfs.tar")
	writeRootfsTar(t, tarPath)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := FromTar(ctx, tarPath, filepath.Join(tmp, "oci"), "x"); err == nil {
		t.Fatal("FromTar ignored a cancelled context")
	}
}

func TestReadManifestRejectsSeveral(t *testing.T) {
	dir := t.TempDir()
	d := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("x"), Size: 1}
	data, _ := json.Marshal(ocispec.Index{Manifests: []ocispec.Descriptor{d, d}})
	if err := os.WriteFile(filepath.Join(dir, "index.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadManifest(dir); err == nil {
		t.Fatal("ReadManifest accepted an index with two manifests")
	}
}

// TestAddFiles: the derived layout holds the base's layers untouched and
// one more with the files, and the config's diff IDs follow.
func TestAddFiles(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	tarPath := filepath.Join(tmp, "rootfs.tar")
	writeRootfsTar(t, tarPath)
	src, dst := filepath.Join(tmp, "base"), filepath.Join(tmp, "derived")
	base, err := FromTar(ctx, tarPath, src, "base:1")
	if err != nil {
		t.Fatal(err)
	}
	desc, err := AddFiles(ctx, src, dst, map[string][]byte{"/etc/apt/sources.list": []byte("deb http://127.0.0.1:1/debian bookworm main\n")})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ReadManifest(dst); err != nil || got.Digest != desc.Digest || desc.Digest == base.Digest {
		t.Fatalf("derived index lists %v (%v); AddFiles returned %s, the base is %s", got.Digest, err, desc.Digest, base.Digest)
	}
	var bm, dm ocispec.Manifest
	decodeStrict(t, readBlob(t, src, base), &bm)
	decodeStrict(t, readBlob(t, dst, desc), &dm)
	if len(dm.Layers) != 2 || dm.Layers[0].Digest != bm.Layers[0].Digest {
		t.Fatalf("derived layers %v, base %v", dm.Layers, bm.Layers)
	}
	readBlob(t, dst, dm.Layers[0])
	var cfg ocispec.Image
	decodeStrict(t, readBlob(t, dst, dm.Config), &cfg)
	gz, err := gzip.NewReader(bytes.NewReader(readBlob(t, dst, dm.Layers[1])))
	if err != nil {
		t.Fatal(err)
	}
	layer, err := io.ReadAll(gz)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.RootFS.DiffIDs) != 2 || cfg.RootFS.DiffIDs[1] != digest.FromBytes(layer) {
		t.Errorf("diff IDs %v; the added layer's is %s", cfg.RootFS.DiffIDs, digest.FromBytes(layer))
	}
	tr := tar.NewReader(bytes.NewReader(layer))
	h, err := tr.Next()
	if err != nil || h.Name != "./etc/apt/sources.list" || h.Uid != 0 || h.Mode != 0o644 {
		t.Fatalf("added layer's first entry %+v, %v", h, err)
	}
	if body, _ := io.ReadAll(tr); !strings.Contains(string(body), "127.0.0.1:1") {
		t.Errorf("added file holds %q", body)
	}
}
