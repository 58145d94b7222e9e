package oslayer

import (
	"context"
	"strings"
	"testing"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"
)

// execStep is one exec of a marshalled graph: its vertex name and mounts.
type execStep struct {
	name   string
	mounts []*pb.Mount
}

func execSteps(t *testing.T, st llb.State) ([]execStep, digest.Digest) {
	t.Helper()
	def, err := st.Marshal(context.Background(), llb.LinuxAmd64)
	if err != nil {
		t.Fatal(err)
	}
	var out []execStep
	for _, dt := range def.Def {
		var op pb.Op
		if err := op.UnmarshalVT(dt); err != nil {
			t.Fatal(err)
		}
		if ex := op.GetExec(); ex != nil {
			name := def.Metadata[digest.FromBytes(dt)].Description["llb.customname"]
			out = append(out, execStep{name: name, mounts: ex.Mounts})
		}
	}
	return out, digest.FromBytes(def.Def[len(def.Def)-1])
}

func buildWithSecret(t *testing.T, id string) llb.State {
	t.Helper()
	o := testOS()
	o.PackageSecret = id
	o.Run = []string{"cat /etc/apt/auth.conf.d/* || true"}
	st, err := Build(Input{Base: llb.Image("example.test/base:1"), OS: o, Distro: testDistro, KubernetesNode: true, Bootstrap: "cloud-init"})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestPackageSecretMountedInInstallStepsOnly: os.packageSecret becomes a
// secret mount at apt's auth.conf.d in each step that runs apt, and in no
// other step, so a run: step or sysprep cannot read the credentials, and
// a secret mount is never part of a step's output layer.
func TestPackageSecretMountedInInstallStepsOnly(t *testing.T) {
	steps, _ := execSteps(t, buildWithSecret(t, "apt-mirror"))
	installs := 0
	for _, s := range steps {
		var secrets []*pb.Mount
		for _, m := range s.mounts {
			if m.MountType == pb.MountType_SECRET {
				secrets = append(secrets, m)
			}
		}
		if !strings.Contains(s.name, "] install ") {
			if len(secrets) > 0 {
				t.Errorf("%s: has a secret mount at %s; only the install steps may", s.name, secrets[0].Dest)
			}
			continue
		}
		installs++
		if len(secrets) != 1 {
			t.Errorf("%s: %d secret mounts, want 1", s.name, len(secrets))
			continue
		}
		m := secrets[0]
		if m.Dest != "/etc/apt/auth.conf.d/strata-secret.conf" || m.SecretOpt.GetID() != "apt-mirror" || m.SecretOpt.GetOptional() {
			t.Errorf("%s: secret mount %s id %q optional %v; want the required secret apt-mirror at apt's auth.conf.d", s.name, m.Dest, m.SecretOpt.GetID(), m.SecretOpt.GetOptional())
		}
		if m.SecretOpt.GetMode() != 0o600 || m.SecretOpt.GetUid() != 0 {
			t.Errorf("%s: secret mode %o uid %d; want 0600 root, as apt_auth.conf(5) asks", s.name, m.SecretOpt.GetMode(), m.SecretOpt.GetUid())
		}
		// A secret mount has no snapshot behind it: BuildKit serves it
		// from a tmpfs of the step, and it is in no output.
		if m.Input != int64(pb.Empty) {
			t.Errorf("%s: the secret mount has input %d; it must have no layer", s.name, m.Input)
		}
	}
	// Kernel and boot packages, os.packages, the node prerequisites and
	// the bootstrap.
	if installs != 4 {
		t.Errorf("%d install steps, want 4", installs)
	}
}

// TestPackageSecretDigestByID: the graph depends on the secret's ID, which
// is in the spec, and on nothing else about it; without the field there is
// no mount at all, so specs without it keep their graphs.
func TestPackageSecretDigestByID(t *testing.T) {
	_, a := execSteps(t, buildWithSecret(t, "apt-mirror"))
	_, again := execSteps(t, buildWithSecret(t, "apt-mirror"))
	_, b := execSteps(t, buildWithSecret(t, "other"))
	steps, none := execSteps(t, buildWithSecret(t, ""))
	if a != again {
		t.Error("the same secret ID gave two graphs")
	}
	if a == b || a == none {
		t.Error("the secret ID does not reach the install steps' digests")
	}
	for _, s := range steps {
		for _, m := range s.mounts {
			if m.MountType == pb.MountType_SECRET {
				t.Errorf("%s: a secret mount without os.packageSecret", s.name)
			}
		}
	}
}
