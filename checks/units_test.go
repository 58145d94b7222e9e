package checks

import (
	"bufio"
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

const (
	wantedByMultiUser = "[Unit]\nDescription=x\n\n[Service]\nExecStart=/bin/true\n\n[Install]\nWantedBy=multi-user.target\n"
	noInstall         = "[Unit]\nDescription=x\n[Service]\nExecStart=/bin/true\n"
)

// unitTree is a merged-/usr image with units in every state systemctl
// names, laid out the way packages and `systemctl enable` leave them.
func unitTree() fstest.MapFS {
	return merged(fstest.MapFS{
		// enabled: [Install] and a link in /etc's multi-user.target.wants.
		"usr/lib/systemd/system/kubelet.service":                     file(wantedByMultiUser),
		"etc/systemd/system/multi-user.target.wants/kubelet.service": link("/lib/systemd/system/kubelet.service"),
		"etc/systemd/system/kubelet.service.d/10-kubeadm.conf":       file("[Service]\nEnvironment=X=1\n"),
		// disabled: [Install] but no link; a drop-in does not enable.
		"usr/lib/systemd/system/containerd.service":             file(wantedByMultiUser),
		"etc/systemd/system/containerd.service.d/override.conf": file("[Install]\nWantedBy=multi-user.target\n"),
		// static: no [Install]; pulled in by a vendor link, still static.
		"usr/lib/systemd/system/systemd-journald.service":                      file(noInstall),
		"usr/lib/systemd/system/sysinit.target.wants/systemd-journald.service": link("../systemd-journald.service"),
		// masked: a link to /dev/null in /etc hides the vendor unit.
		"usr/lib/systemd/system/apt-daily.timer": file("[Timer]\nOnCalendar=daily\n[Install]\nWantedBy=timers.target\n"),
		"etc/systemd/system/apt-daily.timer":     link("/dev/null"),
		// alias: ssh.service with Alias=sshd.service, enabled, which
		// creates the sshd.service link in /etc.
		"usr/lib/systemd/system/ssh.service":                     file("[Service]\nExecStart=/usr/sbin/sshd\n[Install]\nWantedBy=multi-user.target\nAlias=sshd.service\n"),
		"etc/systemd/system/multi-user.target.wants/ssh.service": link("/lib/systemd/system/ssh.service"),
		"etc/systemd/system/sshd.service":                        link("/lib/systemd/system/ssh.service"),
		// indirect: only Also=.
		"usr/lib/systemd/system/chrony-wait.service": file("[Install]\nAlso=chrony.service\n"),
		// enabled under a template: getty@tty1 from getty@.service.
		"usr/lib/systemd/system/getty@.service":                    file("[Service]\nExecStart=/sbin/agetty %I\n[Install]\nWantedBy=getty.target\nDefaultInstance=tty1\n"),
		"etc/systemd/system/getty.target.wants/getty@tty1.service": link("/lib/systemd/system/getty@.service"),
		// linked: a same-name link in /etc to a file outside the path.
		"opt/units/custom.service":          file(wantedByMultiUser),
		"etc/systemd/system/custom.service": link("/opt/units/custom.service"),
		// enabled through /etc/systemd/system's own unit file.
		"etc/systemd/system/local.service":                         file(wantedByMultiUser),
		"etc/systemd/system/multi-user.target.wants/local.service": link("../local.service"),
		// masked by an empty file.
		"etc/systemd/system/empty.service":     file(""),
		"usr/lib/systemd/system/empty.service": file(wantedByMultiUser),
		// enabled under a name [Install] does not give: indirect.
		"usr/lib/systemd/system/odd.service":                      file(wantedByMultiUser),
		"etc/systemd/system/other.target.wants/odd-alias.service": link("/lib/systemd/system/odd.service"),
		"etc/systemd/system/odd-alias.service":                    link("/lib/systemd/system/odd.service"),
	})
}

func TestServiceStates(t *testing.T) {
	tree := unitTree()
	for _, tc := range []struct {
		unit  string
		state string
		words string
	}{
		{"kubelet", "enabled", "/etc/systemd/system/multi-user.target.wants/kubelet.service"},
		{"containerd", "disabled", "/usr/lib/systemd/system/containerd.service"},
		{"systemd-journald", "static", "pulled in by /usr/lib/systemd/system/sysinit.target.wants/systemd-journald.service"},
		{"apt-daily.timer", "masked", "/etc/systemd/system/apt-daily.timer"},
		{"ssh", "enabled", "multi-user.target.wants/ssh.service"},
		{"sshd", "enabled", "alias of ssh.service, which is enabled"},
		{"sshd", "alias", "alias of ssh.service"},
		{"chrony-wait", "indirect", ""},
		{"getty@tty1.service", "enabled", "getty.target.wants/getty@tty1.service"},
		{"getty@tty2.service", "disabled", ""},
		{"custom", "linked", "/etc/systemd/system/custom.service"},
		{"local", "enabled", "multi-user.target.wants/local.service"},
		{"empty", "masked", ""},
		{"odd", "indirect", ""},
		{"nonexistent", "not-found", ""},
	} {
		r := evaluateOne(t, tree, Service{Unit: tc.unit, State: []string{tc.state}})
		wantStatus(t, r, Pass, tc.words)
	}
	// And a state that is not the unit's fails, naming both.
	r := evaluateOne(t, tree, Service{Unit: "containerd"})
	wantStatus(t, r, Fail, "want enabled, found disabled")
}

// TestUnitStatesMatchSystemctl writes unit trees to disk and compares
// every unit's state with what `systemctl --root=DIR is-enabled` says:
// the test tree above, and a copy of this machine's own unit directories.
func TestUnitStatesMatchSystemctl(t *testing.T) {
	if _, err := exec.LookPath("systemctl"); err != nil {
		t.Fatal("no systemctl to compare with: install systemd")
	}
	root := filepath.Join(t.TempDir(), "root")
	writeMapFS(t, root, unitTree())
	compareWithSystemctl(t, root, "getty@tty1.service", "getty@tty2.service", "sshd.service", "odd.service", "nonexistent.service")

	host := filepath.Join(t.TempDir(), "host")
	copied := false
	for _, d := range []string{"etc/systemd/system", "usr/lib/systemd/system"} {
		if _, err := os.Stat("/" + d); err != nil {
			continue
		}
		must(t, os.MkdirAll(filepath.Dir(filepath.Join(host, d)), 0o755))
		if out, err := exec.Command("cp", "-a", "/"+d, filepath.Join(host, d)).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v\n%s", err, out)
		}
		copied = true
	}
	if copied {
		must(t, os.Symlink("usr/lib", filepath.Join(host, "lib")))
		compareWithSystemctl(t, host)
	}
}

func compareWithSystemctl(t *testing.T, root string, extra ...string) {
	t.Helper()
	out, err := exec.Command("systemctl", "--root="+root, "list-unit-files", "--no-legend", "--no-pager").Output()
	if err != nil {
		t.Fatalf("systemctl list-unit-files: %v", err)
	}
	var units []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 2 && !strings.Contains(f[0], "@.") {
			units = append(units, f[0])
		}
	}
	units = append(units, extra...)
	if len(units) < 5 {
		t.Fatalf("systemctl lists only %d units in %s", len(units), root)
	}
	e := newEnv(t.Context(), Image{Root: os.DirFS(root)})
	compared := 0
	for _, u := range units {
		want, _ := exec.Command("systemctl", "--root="+root, "is-enabled", u).Output()
		w := strings.TrimSpace(string(want))
		switch w {
		case "generated", "transient", "bad", "enabled-runtime", "linked-runtime", "masked-runtime":
			continue // states an offline image cannot have
		case "":
			w = "not-found" // is-enabled prints nothing for a unit it cannot find
		}
		got, err := e.units.state(u)
		if err != nil {
			t.Errorf("%s: %v (systemctl: %s)", u, err, w)
			continue
		}
		if got.state != w {
			t.Errorf("%s in %s: %s, systemctl says %s", u, root, got.describe(), w)
		}
		compared++
	}
	t.Logf("%s: %d units agree with systemctl", root, compared)
}

func writeMapFS(t *testing.T, root string, tree fstest.MapFS) {
	t.Helper()
	for name, f := range tree {
		p := filepath.Join(root, name)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		switch {
		case f.Mode&fs.ModeSymlink != 0:
			must(t, os.Symlink(string(f.Data), p))
		case f.Mode.IsDir():
			must(t, os.MkdirAll(p, 0o755))
		case f.Mode.IsRegular():
			must(t, os.WriteFile(p, f.Data, f.Mode.Perm()))
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
