package main

import (
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/plugins/content/local"
	"github.com/moby/buildkit/client"
	"github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/strata-dev/strata/frontend"
	"github.com/tonistiigi/fsutil"
)

// addContexts turns --build-context NAME=VALUE into frontend attributes plus
// the local directories and OCI stores the session serves, the way buildx does.
func addContexts(so *client.SolveOpt, contexts []string) error {
	for _, kv := range contexts {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || name == "" || value == "" {
			return fmt.Errorf("--build-context %q: want NAME=VALUE", kv)
		}
		switch {
		case strings.HasPrefix(value, "oci-layout://"):
			attr, err := addOCILayout(so, name, strings.TrimPrefix(value, "oci-layout://"))
			if err != nil {
				return fmt.Errorf("--build-context %s: %w", name, err)
			}
			so.FrontendAttrs["context:"+name] = attr
		case strings.HasPrefix(value, "docker-image://"):
			so.FrontendAttrs["context:"+name] = value
		default:
			fs, err := fsutil.NewFS(value)
			if err != nil {
				return fmt.Errorf("--build-context %s: %w", name, err)
			}
			key := localName(name)
			so.LocalMounts[key] = fs
			so.FrontendAttrs["context:"+name] = "local:" + key
		}
	}
	return nil
}

// addOCILayout serves the layout at dir as a content store. Without an
// explicit @digest the layout's only manifest is used.
func addOCILayout(so *client.SolveOpt, name, ref string) (string, error) {
	dir, dgst, _ := strings.Cut(ref, "@")
	if dgst == "" {
		var err error
		if dgst, err = onlyManifest(dir); err != nil {
			return "", err
		}
	}
	if _, err := digest.Parse(dgst); err != nil {
		return "", fmt.Errorf("%s: bad digest: %w", ref, err)
	}
	store, err := local.NewStore(dir)
	if err != nil {
		return "", fmt.Errorf("opening OCI layout %s: %w", dir, err)
	}
	if so.OCIStores == nil {
		so.OCIStores = map[string]content.Store{}
	}
	id := localName(name)
	so.OCIStores[id] = store
	return "oci-layout://" + id + "@" + dgst, nil
}

func onlyManifest(dir string) (string, error) {
	dt, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		return "", fmt.Errorf("reading OCI layout: %w", err)
	}
	var idx ocispecs.Index
	if err := json.Unmarshal(dt, &idx); err != nil {
		return "", fmt.Errorf("%s/index.json: %w", dir, err)
	}
	if len(idx.Manifests) != 1 {
		return "", fmt.Errorf("%s holds %d manifests: name one with @sha256:...", dir, len(idx.Manifests))
	}
	return idx.Manifests[0].Digest.String(), nil
}

var notRefChars = regexp.MustCompile(`[^a-z0-9]+`)

// localName makes a session key that is also a valid reference name, since
// oci-layout contexts are parsed as references.
func localName(name string) string {
	return "ctx-" + strings.Trim(notRefChars.ReplaceAllString(strings.ToLower(name), "-"), "-")
}

// addOwnBinary sends this very binary as the strata-binary context, so in
// CLI mode the disk is assembled by the same strata that compiled the graph.
// Only a static binary can run inside an arbitrary tools image.
func addOwnBinary(so *client.SolveOpt) (func(), error) {
	noop := func() {}
	if _, set := so.FrontendAttrs["context:"+frontend.ContextBinary]; set {
		return noop, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return noop, fmt.Errorf("locating the strata binary: %w", err)
	}
	if !isStatic(exe) {
		return noop, nil
	}
	dir, err := os.MkdirTemp("", "strata-binary-")
	if err != nil {
		return noop, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	dst := filepath.Join(dir, "strata")
	if err := os.Link(exe, dst); err != nil {
		if err := copyFile(exe, dst); err != nil {
			cleanup()
			return noop, fmt.Errorf("staging the strata binary: %w", err)
		}
	}
	fs, err := fsutil.NewFS(dir)
	if err != nil {
		cleanup()
		return noop, err
	}
	key := localName(frontend.ContextBinary)
	so.LocalMounts[key] = fs
	so.FrontendAttrs["context:"+frontend.ContextBinary] = "local:" + key
	return cleanup, nil
}

// isStatic reports whether exe has no ELF interpreter, i.e. runs anywhere.
func isStatic(exe string) bool {
	f, err := elf.Open(exe)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}

func copyFile(src, dst string) error {
	dt, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, dt, 0o755)
}
