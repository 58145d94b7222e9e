package frontend

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/frontend/dockerui"
	gwclient "github.com/moby/buildkit/frontend/gateway/client"
	digest "github.com/opencontainers/go-digest"
	"github.com/strata-dev/strata/layers/kubernetes"
	"github.com/strata-dev/strata/spec"
	"golang.org/x/sync/errgroup"
)

// ContextKubernetesArtifacts is a release tree for air-gapped builds: every
// Kubernetes artifact and its checksum file at its upstream path with the
// host dropped, the layout a kubernetes.source mirror serves.
const ContextKubernetesArtifacts = "kubernetes-artifacts"

// layoutHelp ends every error about the context's content, since the fix is
// always to lay the directory out right.
const layoutHelp = "the " + ContextKubernetesArtifacts + " context must hold each artifact and its checksum file " +
	"at its upstream path with the host dropped, as a kubernetes.source mirror does (see docs/kubernetes.md)"

// hashChunk is how much of a file one gateway read returns: big enough to
// keep the round trips few, far below the gateway's 16 MiB message limit,
// and small enough that hashing never holds a whole binary in memory.
const hashChunk = 4 << 20

// treeFiles lists the files the build needs from a release tree: every
// artifact, and the checksum file of each one the spec does not pin.
func treeFiles(arts []kubernetes.Artifact) []string {
	var paths []string
	for _, a := range arts {
		paths = append(paths, a.Path)
		if a.ChecksumPath != "" {
			paths = append(paths, a.ChecksumPath)
		}
	}
	return paths
}

// artifactsFromContext takes every artifact from the kubernetes-artifacts
// context and touches no network. The context is solved once, restricted to
// the files the build needs; each artifact is hashed through the gateway and
// checked against its pin or its checksum file in the context before the
// graph exists; and the graph installs from that same solved ref, so what
// was verified is what is installed. Without the context it returns a nil
// tree and does nothing.
func artifactsFromContext(ctx context.Context, c gwclient.Client, bc *dockerui.Client, sp *spec.Spec, src *dockerui.Source) (map[string]digest.Digest, *kubernetes.Tree, error) {
	arts := kubernetes.Artifacts(sp.Image.Kubernetes)
	ref, err := solveArtifactsContext(ctx, c, bc, treeFiles(arts))
	if err != nil || ref == nil {
		return nil, nil, err
	}

	digests := make([]digest.Digest, len(arts))
	errs := make([]error, len(arts))
	var eg errgroup.Group
	eg.SetLimit(4) // a few reads in flight; each holds one chunk
	for i, a := range arts {
		eg.Go(func() error {
			digests[i], errs[i] = verifyArtifact(ctx, ref, a)
			return nil
		})
	}
	eg.Wait()
	// Every problem at once, so a tree can be fixed in one pass.
	var list spec.ErrorList
	out := make(map[string]digest.Digest, len(arts))
	for i, a := range arts {
		if errs[i] != nil {
			list = append(list, &spec.Error{File: sp.File, Pos: artifactPos(sp, a), Field: artifactField(a), Message: errs[i].Error()})
			continue
		}
		out[a.Name] = digests[i]
	}
	if len(list) > 0 {
		// Document order, as spec errors are: the first gets the source view.
		sort.SliceStable(list, func(i, j int) bool {
			a, b := list[i].Pos, list[j].Pos
			return a.Line < b.Line || a.Line == b.Line && a.Column < b.Column
		})
		return nil, nil, withSource(list, src)
	}

	st, err := ref.ToState()
	if err != nil {
		return nil, nil, fmt.Errorf("build context %s: %w", ContextKubernetesArtifacts, err)
	}
	return out, &kubernetes.Tree{Name: "context " + ContextKubernetesArtifacts, State: st}, nil
}

// solveArtifactsContext loads the context with only the given files, so a
// big directory is not uploaded whole. It returns nil without the context.
func solveArtifactsContext(ctx context.Context, c gwclient.Client, bc *dockerui.Client, files []string) (gwclient.Reference, error) {
	nc, err := bc.NamedContext(ContextKubernetesArtifacts, dockerui.ContextOpt{
		// A .dockerignore could hide an artifact and turn a clear
		// "missing file" into a puzzle; the file list is exact anyway.
		NoDockerignore: true,
		AsyncLocalOpts: func() []llb.LocalOption {
			return []llb.LocalOption{llb.FollowPaths(files),
				llb.WithCustomName(fmt.Sprintf("[kubernetes] load %d files from context %s", len(files), ContextKubernetesArtifacts))}
		},
	})
	if err != nil || nc == nil {
		return nil, err
	}
	st, _, err := nc.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("build context %s: %w", ContextKubernetesArtifacts, err)
	}
	def, err := st.Marshal(ctx)
	if err != nil {
		return nil, err
	}
	res, err := c.Solve(ctx, gwclient.SolveRequest{Definition: def.ToPB(), CacheImports: bc.CacheImports, Evaluate: true})
	if err != nil {
		return nil, fmt.Errorf("loading build context %s: %w", ContextKubernetesArtifacts, err)
	}
	return res.SingleRef()
}

// verifyArtifact hashes an artifact in the tree and returns its digest if
// it matches the spec's pin or the checksum file beside it.
func verifyArtifact(ctx context.Context, ref gwclient.Reference, a kubernetes.Artifact) (digest.Digest, error) {
	want, err := expectedDigest(ctx, ref, a)
	if err != nil {
		return "", err
	}
	if err := requireFile(ctx, ref, a.Path); err != nil {
		return "", fmt.Errorf("%s: %w", a.Label(), err)
	}
	got, err := hashReader(&refReader{ctx: ctx, ref: ref, path: a.Path})
	if err != nil {
		return "", fmt.Errorf("%s: reading %s from context %s: %w", a.Label(), a.Path, ContextKubernetesArtifacts, err)
	}
	if got != want {
		return "", fmt.Errorf("%s: checksum mismatch for context %s:%s: %s expects %s, the file has %s",
			a.Label(), ContextKubernetesArtifacts, a.Path, expectation(a), want, got)
	}
	return got, nil
}

// expectedDigest is the spec's pin, which wins, or the digest the checksum
// file in the tree gives for the artifact.
func expectedDigest(ctx context.Context, ref gwclient.Reference, a kubernetes.Artifact) (digest.Digest, error) {
	if a.Pinned != "" {
		return digest.NewDigestFromEncoded(digest.SHA256, strings.ToLower(a.Pinned)), nil
	}
	if err := requireFile(ctx, ref, a.ChecksumPath); err != nil {
		return "", fmt.Errorf("%s: %w", a.Label(), err)
	}
	data, err := ref.ReadFile(ctx, gwclient.ReadRequest{Filename: a.ChecksumPath})
	if err != nil {
		return "", fmt.Errorf("%s: reading %s from context %s: %w", a.Label(), a.ChecksumPath, ContextKubernetesArtifacts, err)
	}
	dgst, err := kubernetes.ParseChecksum(data, path.Base(a.Path))
	if err != nil {
		return "", fmt.Errorf("%s: checksum file %s in context %s: %w", a.Label(), a.ChecksumPath, ContextKubernetesArtifacts, err)
	}
	return dgst, nil
}

// requireFile fails unless p is a regular file in the tree (through
// symlinks, as reads and the install copy see it).
func requireFile(ctx context.Context, ref gwclient.Reference, p string) error {
	st, err := ref.StatFile(ctx, gwclient.StatRequest{Path: p})
	if err != nil {
		if isNotExist(err) {
			return fmt.Errorf("context %s has no %s: %s", ContextKubernetesArtifacts, p, layoutHelp)
		}
		return fmt.Errorf("context %s: %s: %w", ContextKubernetesArtifacts, p, err)
	}
	if !fs.FileMode(st.Mode).IsRegular() {
		return fmt.Errorf("context %s: %s is not a regular file (mode %s): %s", ContextKubernetesArtifacts, p, fs.FileMode(st.Mode), layoutHelp)
	}
	return nil
}

// isNotExist recognises a missing file. Across the gateway's gRPC the errno
// is lost and only the message survives, hence the text match.
func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || strings.Contains(err.Error(), "no such file or directory")
}

// expectation says where an artifact's expected digest comes from.
func expectation(a kubernetes.Artifact) string {
	if a.Pinned != "" {
		return "the spec's pin " + artifactField(a)
	}
	return "its checksum file " + a.ChecksumPath
}

// artifactField is the spec field an artifact's errors point at: the pin
// when the expected digest comes from it, else the version field.
func artifactField(a kubernetes.Artifact) string {
	if a.Pinned != "" {
		return a.PinField
	}
	return a.Field
}

func artifactPos(sp *spec.Spec, a kubernetes.Artifact) spec.Pos {
	return positionOr(sp, artifactField(a), a.Field, "kubernetes")
}

// hashReader returns the sha256 of everything r yields.
func hashReader(r io.Reader) (digest.Digest, error) {
	h := sha256.New()
	if _, err := io.CopyBuffer(h, r, make([]byte, hashChunk)); err != nil {
		return "", err
	}
	return digest.NewDigest(digest.SHA256, h), nil
}

// refReader reads a file of a solved ref through the gateway, one range per
// Read, so that a large file streams instead of arriving in one message.
type refReader struct {
	ctx  context.Context
	ref  gwclient.Reference
	path string
	off  int
}

func (r *refReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	data, err := r.ref.ReadFile(r.ctx, gwclient.ReadRequest{Filename: r.path, Range: &gwclient.FileRange{Offset: r.off, Length: len(p)}})
	if err != nil {
		return 0, err
	}
	if len(data) == 0 {
		return 0, io.EOF // a range past the end reads nothing
	}
	n := copy(p, data)
	r.off += n
	return n, nil
}
