package frontend

import (
	"context"
	"fmt"
	"sync"

	"github.com/moby/buildkit/frontend/dockerui"
	gwclient "github.com/moby/buildkit/frontend/gateway/client"
	digest "github.com/opencontainers/go-digest"
	"github.com/strata-dev/strata/layers/kubernetes"
	"github.com/strata-dev/strata/spec"
	"golang.org/x/sync/errgroup"
)

// kubernetesArtifacts resolves where the Kubernetes artifacts come from and
// the digest each must match. With the kubernetes-artifacts context both
// come from it and nothing is fetched; otherwise the artifacts are downloads
// and the tree is nil.
func kubernetesArtifacts(ctx context.Context, c gwclient.Client, bc *dockerui.Client, sp *spec.Spec, src *dockerui.Source) (map[string]digest.Digest, *kubernetes.Tree, error) {
	digests, tree, err := artifactsFromContext(ctx, c, bc, sp, src)
	if err != nil || tree != nil {
		return digests, tree, err
	}
	digests, err = kubernetesDigests(ctx, c, bc, sp, src)
	return digests, nil, err
}

// kubernetesDigests resolves every Kubernetes artifact to the sha256 its
// download must match: the spec's pin, or the checksum file published beside
// the artifact, fetched through BuildKit so mirrors and proxies apply. The
// graph then carries the digests, so BuildKit itself refuses tampered bytes.
func kubernetesDigests(ctx context.Context, c gwclient.Client, bc *dockerui.Client, sp *spec.Spec, src *dockerui.Source) (map[string]digest.Digest, error) {
	arts := kubernetes.Artifacts(sp.Image.Kubernetes)
	var mu sync.Mutex
	out := make(map[string]digest.Digest, len(arts))
	eg, ctx := errgroup.WithContext(ctx)
	for _, a := range arts {
		if a.Pinned != "" {
			out[a.Name] = digest.NewDigestFromEncoded(digest.SHA256, a.Pinned)
			continue
		}
		eg.Go(func() error {
			dgst, err := fetchChecksum(ctx, c, bc, a)
			if err != nil {
				field := a.Field
				if f, _, ok := secretProblem(a, err); ok {
					field = f
				}
				return withSource(&spec.Error{
					File: sp.File, Pos: positionOr(sp, field, "kubernetes.source", "kubernetes"), Field: field,
					Message: err.Error(),
				}, src)
			}
			mu.Lock()
			out[a.Name] = dgst
			mu.Unlock()
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

func fetchChecksum(ctx context.Context, c gwclient.Client, bc *dockerui.Client, a kubernetes.Artifact) (digest.Digest, error) {
	const name = "checksum"
	def, err := checksumSource(a, name).Marshal(ctx)
	if err != nil {
		return "", err
	}
	unreachable := func(err error) error {
		hint := checksumHint(a)
		if _, h, ok := secretProblem(a, err); ok {
			hint = h
		}
		return fmt.Errorf("fetching the checksum of %s from %s: %w; %s", a.Label(), a.ChecksumURL, err, hint)
	}
	// Evaluate, so a fetch failure surfaces here rather than as a read error.
	res, err := c.Solve(ctx, gwclient.SolveRequest{Definition: def.ToPB(), CacheImports: bc.CacheImports, Evaluate: true})
	if err != nil {
		return "", unreachable(err)
	}
	ref, err := res.SingleRef()
	if err != nil {
		return "", err
	}
	data, err := ref.ReadFile(ctx, gwclient.ReadRequest{Filename: name})
	if err != nil {
		return "", unreachable(err)
	}
	dgst, err := kubernetes.ParseChecksum(data, a.File)
	if err != nil {
		// Reachable but wrong: typically a mirror answering 200 with an
		// error page, or serving another project's checksum format.
		return "", fmt.Errorf("checksum file %s of %s: %w; check that kubernetes.source serves upstream's checksum files unchanged, or pin the digest with kubernetes.artifacts.%s.sha256",
			a.ChecksumURL, a.Label(), err, a.Name)
	}
	return dgst, nil
}

// checksumHint says what to check when a checksum file cannot be fetched: a
// download at its upstream place depends on kubernetes.source and the
// version; one at a URL of the spec's own, on that URL.
func checksumHint(a kubernetes.Artifact) string {
	if a.Version != "" {
		return "check kubernetes.source and that the version is published"
	}
	return "check that the checksum file is published beside the tarball, or pin " + a.PinField
}
