package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/plugins/content/local"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	gwclient "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/util/progress/progressui"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/tonistiigi/fsutil"
)

// TestGatewayFrontendImage runs strata the way buildx does with
// BUILDKIT_SYNTAX: BuildKit's gateway.v0 frontend starts the strata image
// and talks to it over the gateway API. The image comes from an OCI layout
// (no registry here), and no strata-tools context is given: disk assembly
// must run in the frontend's own image.
func TestGatewayFrontendImage(t *testing.T) {
	requireE2E(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	c, err := client.New(ctx, env.buildkit)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	frontendLayout := filepath.Join(env.workDir, "frontend-oci")
	frontendDigest := buildFrontendImage(ctx, t, c, frontendLayout)

	baseDir, baseDigest := splitLayoutRef(t, env.base)
	baseStore, err := local.NewStore(baseDir)
	if err != nil {
		t.Fatal(err)
	}
	frontendStore, err := local.NewStore(frontendLayout)
	if err != nil {
		t.Fatal(err)
	}
	examples, err := fsutil.NewFS(filepath.Join(env.repo, "examples"))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(env.workDir, "gateway-out")
	var progress bytes.Buffer
	ch, done := plainProgress(ctx, &progress)
	_, err = c.Solve(ctx, nil, client.SolveOpt{
		Frontend: "gateway.v0",
		FrontendAttrs: map[string]string{
			"source":                  "strata-frontend",
			"context:strata-frontend": "oci-layout://strata-frontend@" + frontendDigest,
			"context:os-base":         "oci-layout://os-base@" + baseDigest,
			"filename":                "debian.yaml",
			"target":                  "disk",
			"build-arg:DISK_SIZE":     "2GiB",
		},
		OCIStores:   map[string]content.Store{"strata-frontend": frontendStore, "os-base": baseStore},
		LocalMounts: map[string]fsutil.FS{"dockerfile": examples, "context": examples},
		Exports:     []client.ExportEntry{{Type: client.ExporterLocal, OutputDir: out}},
	}, ch)
	<-done
	if err != nil {
		t.Fatalf("gateway build: %v\n%s", err, tail(progress.String(), 60))
	}
	st, err := os.Stat(filepath.Join(out, "disk.raw"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != 2<<30 {
		t.Errorf("disk.raw is %d bytes, want 2 GiB", st.Size())
	}
	table := sfdisk(t, filepath.Join(out, "disk.raw"))
	if table.Label != "gpt" || len(table.Partitions) != 2 {
		t.Errorf("gateway-built disk: label %q with %d partitions, want gpt with 2", table.Label, len(table.Partitions))
	}
}

// buildFrontendImage makes the strata frontend image as an OCI layout: the
// OS base (it has mke2fs) plus the static strata binary as entrypoint, with
// the labels BuildKit reads from a frontend image.
func buildFrontendImage(ctx context.Context, t *testing.T, c *client.Client, layout string) string {
	t.Helper()
	baseDir, baseDigest := splitLayoutRef(t, env.base)
	baseStore, err := local.NewStore(baseDir)
	if err != nil {
		t.Fatal(err)
	}
	binDir := filepath.Dir(env.strata)
	bin, err := fsutil.NewFS(binDir)
	if err != nil {
		t.Fatal(err)
	}
	img := ocispecs.Image{
		Platform: ocispecs.Platform{OS: "linux", Architecture: "amd64"},
		Config: ocispecs.ImageConfig{
			Entrypoint: []string{"/usr/local/bin/strata", "frontend"},
			Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			Labels: map[string]string{
				"moby.buildkit.frontend.network.none": "true",
				"moby.buildkit.frontend.caps":         "moby.buildkit.frontend.inputs,moby.buildkit.frontend.subrequests,moby.buildkit.frontend.contexts",
			},
		},
	}
	config, err := json.Marshal(img)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Build(ctx, client.SolveOpt{
		OCIStores:   map[string]content.Store{"base": baseStore},
		LocalMounts: map[string]fsutil.FS{"bin": bin},
		Exports: []client.ExportEntry{{Type: client.ExporterOCI, OutputDir: layout,
			Attrs: map[string]string{"name": "strata-frontend:test", "tar": "false"}}},
	}, "strata-e2e", func(ctx context.Context, gc gwclient.Client) (*gwclient.Result, error) {
		sid := gc.BuildOpts().SessionID
		base := llb.OCILayout("docker.io/library/strata-base@"+baseDigest, llb.OCIStore(sid, "base"))
		binary := llb.Local("bin", llb.SessionID(sid), llb.FollowPaths([]string{"strata"}))
		st := base.File(llb.Copy(binary, "strata", "/usr/local/bin/strata"))
		def, err := st.Marshal(ctx)
		if err != nil {
			return nil, err
		}
		r, err := gc.Solve(ctx, gwclient.SolveRequest{Definition: def.ToPB()})
		if err != nil {
			return nil, err
		}
		r.AddMeta(exptypes.ExporterImageConfigKey, config)
		return r, nil
	}, nil)
	if err != nil {
		t.Fatalf("building the frontend image: %v", err)
	}
	dgst := resp.ExporterResponse[exptypes.ExporterImageDigestKey]
	if dgst == "" {
		t.Fatalf("no image digest in the exporter response: %v", resp.ExporterResponse)
	}
	return dgst
}

func splitLayoutRef(t *testing.T, ref string) (dir, dgst string) {
	t.Helper()
	dir, dgst, ok := strings.Cut(strings.TrimPrefix(ref, "oci-layout://"), "@")
	if !ok {
		t.Fatalf("%q: want oci-layout://DIR@sha256:...", ref)
	}
	return dir, dgst
}

// plainProgress renders a solve's status as plain text into w.
func plainProgress(ctx context.Context, w io.Writer) (chan *client.SolveStatus, <-chan struct{}) {
	ch := make(chan *client.SolveStatus)
	done := make(chan struct{})
	d, _ := progressui.NewDisplay(w, progressui.PlainMode)
	go func() {
		defer close(done)
		d.UpdateFrom(context.WithoutCancel(ctx), ch)
	}()
	return ch, done
}
