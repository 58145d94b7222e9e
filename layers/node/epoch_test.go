package node

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"
	"github.com/strata-dev/strata/layers/overlays"
	"github.com/strata-dev/strata/spec"
)

// TestEveryStepSeesTheEpoch: each exec of a provider's graph (apt,
// mkinitramfs in the guest step, assembly, add-layer, sysext, convert) runs
// with SOURCE_DATE_EPOCH, the user's or else the spec's default. A step
// without it writes the day of the build into the image: the initrd's gzip
// header and cpio times did before the OS steps got it.
func TestEveryStepSeesTheEpoch(t *testing.T) {
	user := time.Unix(1700000000, 0)
	for _, c := range []struct {
		name  string
		epoch *time.Time
		want  int64
	}{
		{"default", nil, spec.DefaultEpoch.Unix()},
		{"SOURCE_DATE_EPOCH", &user, user.Unix()},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, install := range []string{"rootfs", "sysext"} {
				g := buildEpochGraph(t, install, c.epoch)
				for _, provider := range []string{"aws", "vsphere", "qemu"} {
					execs := execsOf(t, g.Providers[provider])
					if len(execs) < 8 {
						t.Fatalf("%s (%s): %d exec steps, want the OS, guest, assembly and conversion steps", provider, install, len(execs))
					}
					for name, e := range execs {
						// strata inspect only reads the disk.
						if slices.Contains(e.Args, "inspect") {
							continue
						}
						if env := e.Env; !slices.Contains(env, "SOURCE_DATE_EPOCH="+strconv.FormatInt(c.want, 10)) {
							t.Errorf("%s (%s): step %q runs with env %v, want SOURCE_DATE_EPOCH=%d", provider, install, name, env, c.want)
						}
					}
				}
			}
		})
	}
}

func buildEpochGraph(t *testing.T, install string, epoch *time.Time) Graph {
	t.Helper()
	sp := loadSpecFile(t, "testdata/k8s-node.yaml", map[string]string{"KUBERNETES_INSTALL": install})
	distro, _ := overlays.Lookup(sp.Image.OS.Distro)
	g, err := Build(Input{
		Spec: sp, Distro: distro, Epoch: epoch, KubernetesDigests: fakeDigests(), StrataVersion: "v0.0.0-test",
		Base:  llb.Image("docker.io/library/debian:bookworm"),
		Tools: llb.Image("example.test/strata-tools:test"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// execsOf maps each exec step of st's graph, by name, to what it runs.
func execsOf(t *testing.T, st llb.State) map[string]*pb.Meta {
	t.Helper()
	def, err := st.Marshal(context.Background(), llb.LinuxAmd64)
	if err != nil {
		t.Fatal(err)
	}
	execs := map[string]*pb.Meta{}
	for _, dt := range def.Def {
		var op pb.Op
		if err := op.UnmarshalVT(dt); err != nil {
			t.Fatal(err)
		}
		if e := op.GetExec(); e != nil {
			execs[def.Metadata[digest.FromBytes(dt)].Description["llb.customname"]] = e.Meta
		}
	}
	return execs
}
