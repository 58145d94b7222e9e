package packages

import (
	"context"
	"strings"
	"testing"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
)

// installExec marshals f's install of pkgs and returns its one exec.
func installExec(t *testing.T, f Family, pkgs []string) *pb.ExecOp {
	t.Helper()
	def, err := f.Install(llb.Image("example.test/base:1"), pkgs, "rocky-9").Marshal(context.Background(), llb.LinuxAmd64)
	if err != nil {
		t.Fatal(err)
	}
	var found *pb.ExecOp
	for _, dt := range def.Def {
		var op pb.Op
		if err := op.UnmarshalVT(dt); err != nil {
			t.Fatal(err)
		}
		if ex := op.GetExec(); ex != nil {
			if found != nil {
				t.Fatal("more than one exec for one install")
			}
			found = ex
		}
	}
	if found == nil {
		t.Fatal("no exec")
	}
	return found
}

func TestDnfScript(t *testing.T) {
	f, err := Lookup("dnf")
	if err != nil {
		t.Fatal(err)
	}
	script := f.Script([]string{"kernel", "dracut-config-generic"})
	lines := strings.Split(strings.TrimSpace(script), "\n")
	if lines[0] != "set -eu" {
		t.Errorf("the script does not stop at the first failure: %q", lines[0])
	}
	install := lines[len(lines)-1]
	for _, want := range []string{"dnf install -y ", "--setopt=keepcache=True", "--setopt=install_weak_deps=False", " kernel dracut-config-generic"} {
		if !strings.Contains(install, want) {
			t.Errorf("install line %q lacks %q", install, want)
		}
	}
	if !strings.HasSuffix(install, "kernel dracut-config-generic") {
		t.Errorf("the packages are not the install line's last arguments: %q", install)
	}
	if strings.Contains(script, "apt") {
		t.Errorf("the dnf script runs apt: %q", script)
	}
}

// TestInstallCacheMounts: each family's cache directories are persistent
// cache mounts of the install step, keyed by distro, so a rebuild
// downloads nothing again and no package archive reaches the image.
func TestInstallCacheMounts(t *testing.T) {
	for name, want := range map[string][]string{
		"dnf": {"/var/cache/dnf"},
		"apt": {"/var/cache/apt/archives", "/var/lib/apt/lists"},
	} {
		f, err := Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		ex := installExec(t, f, []string{"chrony"})
		var got []string
		for _, m := range ex.Mounts {
			if m.MountType != pb.MountType_CACHE {
				continue
			}
			got = append(got, m.Dest)
			if id := m.CacheOpt.ID; id != "strata-rocky-9"+m.Dest {
				t.Errorf("%s: cache %s has ID %q, want one keyed by the distro", name, m.Dest, id)
			}
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s: cache mounts %v, want %v", name, got, want)
		}
		if args := ex.Meta.Args; len(args) != 3 || args[2] != f.Script([]string{"chrony"}) {
			t.Errorf("%s: exec args %q do not run the family's script", name, args)
		}
	}
}

// TestDnfTakesNoAuthSecret: os.packageSecret on a dnf distro is refused
// with the reason, while apt mounts it at its auth file.
func TestDnfTakesNoAuthSecret(t *testing.T) {
	dnf, _ := Lookup("dnf")
	if _, err := dnf.WithAuthSecret("mirror"); err == nil || !strings.Contains(err.Error(), "takes no mirror credentials") {
		t.Errorf("dnf WithAuthSecret: got %v, want a refusal", err)
	}
	apt, _ := Lookup("apt")
	withSecret, err := apt.WithAuthSecret("mirror")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range installExec(t, withSecret, []string{"curl"}).Mounts {
		if m.MountType == pb.MountType_SECRET {
			found = m.Dest == apt.AuthFile && m.SecretOpt.ID == "mirror"
		}
	}
	if !found {
		t.Errorf("apt's install step does not mount secret mirror at %s", apt.AuthFile)
	}
}

func TestLookupUnknownFamily(t *testing.T) {
	if _, err := Lookup("pacman"); err == nil || err.Error() != `unknown package family "pacman"` {
		t.Errorf("got %v", err)
	}
}

// TestOnlyDpkgFamiliesAreChecked: the image checks read dpkg's database,
// so only apt says it records packages there.
func TestOnlyDpkgFamiliesAreChecked(t *testing.T) {
	for name, want := range map[string]bool{"apt": true, "dnf": false} {
		if f, _ := Lookup(name); f.Dpkg != want {
			t.Errorf("%s: Dpkg = %v, want %v", name, f.Dpkg, want)
		}
	}
}
