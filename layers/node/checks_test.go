package node

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"
	"github.com/strata-dev/strata/checks"
	"github.com/strata-dev/strata/layers/kubernetes"
	"github.com/strata-dev/strata/layers/overlays"
	"github.com/strata-dev/strata/spec"
)

// loadNode loads a spec from testdata with extra YAML appended, as
// node.yaml.
func loadNode(t *testing.T, file, extra string, args map[string]string) Input {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := spec.Load("node.yaml", append(data, extra...), args, overlays.Defaults())
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	d, _ := overlays.Lookup(sp.Image.OS.Distro)
	return Input{Spec: sp, Distro: d, KubernetesDigests: fakeDigests(), StrataVersion: "v0.0.0-test",
		Base: llb.Image("example.test/base"), Tools: llb.Image("example.test/tools")}
}

// validateLine is the line a validate: list appended to file starts on.
func validateLine(t *testing.T, file string) int {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(data), "\n") + 1
}

const userChecks = "validate:\n  - file: /etc/hostname\n    equals: \"localhost\\n\"\n  - package: chrony\n    name: the time daemon\n"

// TestChecksOrder: overlay, spec, Kubernetes layer, then the user's, each
// group with its source, and nothing asked twice.
func TestChecksOrder(t *testing.T) {
	in := loadNode(t, "testdata/k8s-node.yaml", userChecks, nil)
	list, err := Checks(in)
	if err != nil {
		t.Fatal(err)
	}
	var groups []string
	seen := map[string]bool{}
	for _, c := range list {
		if len(groups) == 0 || groups[len(groups)-1] != c.Source {
			groups = append(groups, c.Source)
		}
		d := c.Source + " " + c.Assert.Describe()
		if seen[d] && !strings.HasPrefix(c.Source, "node.yaml:") {
			t.Errorf("asked twice: %s", d)
		}
		seen[d] = true
	}
	at := validateLine(t, "testdata/k8s-node.yaml")
	want := []string{"debian overlay", "spec", kubernetes.ChecksSource, "node.yaml:" + itoa(at+1), "node.yaml:" + itoa(at+3)}
	if !slices.Equal(groups, want) {
		t.Errorf("sources in order %q, want %q", groups, want)
	}
	last := list[len(list)-1]
	if last.Name != "the time daemon" || last.Assert != (checks.Package{Name: "chrony"}) {
		t.Errorf("the last check is %+v", last)
	}
	// chrony is in os.packages and among the node prerequisites: once.
	n := 0
	for _, c := range list[:len(list)-2] {
		if c.Assert == (checks.Package{Name: "chrony"}) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("package chrony checked %d times by the defaults", n)
	}
	if _, err := checks.Marshal(list); err != nil {
		t.Error(err)
	}
}

func TestChecksCmdline(t *testing.T) {
	in := loadNode(t, "testdata/node.yaml", "", map[string]string{"DISK_CMDLINE": `console=ttyS0 quiet dyndbg="file x +p"`})
	list, err := Checks(in)
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	for _, c := range list {
		if a, ok := c.Assert.(checks.Cmdline); ok {
			if c.Source != "spec" {
				t.Errorf("%s: source %q", a.Describe(), c.Source)
			}
			args = append(args, a.Arg)
		}
	}
	if want := []string{"console=ttyS0", "quiet", "dyndbg=file x +p"}; !slices.Equal(args, want) {
		t.Errorf("cmdline checks %q, want %q", args, want)
	}
}

// TestChecksValidateErrors: a bad validate: entry fails with the spec
// file's position and the entry's field, every problem at once.
func TestChecksValidateErrors(t *testing.T) {
	in := loadNode(t, "testdata/k8s-node.yaml",
		"validate:\n  - file: /etc/hostname\n  - file: etc/motd\n  - {service: kubelet, state: running}\n  - sysctl: vm.swappiness\n  - packge: curl\n", nil)
	_, err := Checks(in)
	var list spec.ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("error %T %v, want a spec.ErrorList", err, err)
	}
	at := validateLine(t, "testdata/k8s-node.yaml")
	want := []string{
		"node.yaml:" + itoa(at+2) + `:5: validate[1]: path "etc/motd" must be absolute`,
		"node.yaml:" + itoa(at+3) + `:31: validate[2].state: state "running" is not one of enabled`,
		"node.yaml:" + itoa(at+4) + `:5: validate[3]: sysctl: needs value:`,
		"node.yaml:" + itoa(at+5) + `:5: validate[4]: no kind: an entry starts with one of file:`,
	}
	if len(list) != len(want) {
		t.Errorf("%d errors, want %d:\n%v", len(list), len(want), err)
	}
	for i, w := range want {
		if i < len(list) && !strings.HasPrefix(list[i].Error(), w) {
			t.Errorf("error %d:\n got %s\nwant %s...", i, list[i], w)
		}
	}
	if _, err := Checks(loadNode(t, "testdata/k8s-node.yaml", "validate:\n  - {file: /etc/hostname, source: my team}\n", nil)); err != nil {
		t.Error(err)
	}
}

// TestChecksPassOnTheLayersTree runs a node's checks against the tree its
// graph writes (every file, directory and link of its FileOps, applied as
// the merges order them) plus what the steps a unit test cannot run would
// leave (packages, the downloads' archive members, `systemctl enable`, a
// kernel): a faithful tree passes every check, the embedded check file's
// too, and a tree with a defect fails the check that names it.
func TestChecksPassOnTheLayersTree(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		args       map[string]string
	}{
		{"kubernetes rootfs", "testdata/k8s-node.yaml", nil},
		{"kubernetes sysext", "testdata/k8s-node.yaml", map[string]string{"KUBERNETES_INSTALL": "sysext"}},
		{"plain", "testdata/node.yaml", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := loadNode(t, tc.file, userChecks, tc.args)
			g, err := Build(in)
			if err != nil {
				t.Fatal(err)
			}
			tree := treeOf(t, g.Rootfs)
			addRuntimeEffects(tree, in)
			if k := in.Spec.Image.Kubernetes; k != nil && k.Install == "sysext" && tree["usr/bin/kubelet"] != nil {
				t.Fatal("the sysext tree holds /usr/bin/kubelet: the flattening follows the payload into the image")
			}
			list, err := Checks(in)
			if err != nil {
				t.Fatal(err)
			}
			run := func(list []checks.Check) []checks.Result {
				return checks.Run(context.Background(), checks.Image{Root: tree, BootEntry: "/loader/entries/strata.conf",
					Cmdline: "root=PARTUUID=00000000-0000-0000-0000-000000000000 rw " + in.Spec.Image.Disk.Cmdline}, list)
			}
			for _, r := range run(list) {
				if r.Status != checks.Pass {
					t.Errorf("%s (%s): %s: %s", r.Name, r.Source, r.Status, r.Detail)
				}
			}
			embedded := tree[strings.TrimPrefix(ChecksFile, "/")]
			if embedded == nil {
				t.Fatalf("the tree has no %s", ChecksFile)
			}
			suite, err := checks.Parse(ChecksFile, embedded.Data)
			if err != nil {
				t.Fatal(err)
			}
			if len(suite.Checks) != len(list) || suite.Checks[0].Source != "debian overlay" ||
				suite.Checks[len(list)-1].Source != "node.yaml:"+itoa(validateLine(t, tc.file)+3) {
				t.Errorf("%s holds %d checks (want %d), sources from %q to %q", ChecksFile, len(suite.Checks), len(list),
					suite.Checks[0].Source, suite.Checks[len(suite.Checks)-1].Source)
			}
			if failed := checks.Failed(run(suite.Checks)); failed > 0 {
				t.Errorf("%d checks of %s fail", failed, ChecksFile)
			}

			defects := []defect{
				{"no chrony", "package chrony", "/var/lib/dpkg/status", func(m fstest.MapFS) {
					m["var/lib/dpkg/status"] = mapFile(strings.ReplaceAll(string(m["var/lib/dpkg/status"].Data), "Package: chrony\n", "Package: chrony-gone\n"), 0o644)
				}},
				{"hostname changed", "file /etc/hostname", "/etc/hostname", func(m fstest.MapFS) { m["etc/hostname"] = mapFile("node-1\n", 0o644) }},
				{"no serial console", "cmdline console=ttyS0", "/loader/entries/strata.conf", nil},
			}
			if in.Spec.Image.Kubernetes != nil && in.Spec.Image.Kubernetes.Install == "rootfs" {
				defects = append(defects,
					defect{"no kubelet", "file /usr/bin/kubelet", "/usr/bin/kubelet", func(m fstest.MapFS) { delete(m, "usr/bin/kubelet") }},
					defect{"kubelet not executable", "file /usr/bin/kubelet", "/usr/bin/kubelet", func(m fstest.MapFS) { m["usr/bin/kubelet"] = mapFile("", 0o644) }},
					defect{"forwarding turned off", "sysctl net.ipv4.ip_forward", "/etc/sysctl.d/99-zz-local.conf", func(m fstest.MapFS) {
						m["etc/sysctl.d/99-zz-local.conf"] = mapFile("net.ipv4.ip_forward = 0\n", 0o644)
					}},
					defect{"kubelet disabled", "service kubelet.service", "", func(m fstest.MapFS) {
						delete(m, "etc/systemd/system/multi-user.target.wants/kubelet.service")
					}},
				)
			}
			if in.Spec.Image.Kubernetes != nil && in.Spec.Image.Kubernetes.Install == "sysext" {
				defects = append(defects, defect{"extension not merged", "file /var/lib/extensions/kubernetes.raw",
					"/var/lib/extensions/kubernetes.raw", func(m fstest.MapFS) { delete(m, "var/lib/extensions/kubernetes.raw") }})
			}
			for _, d := range defects {
				t.Run(d.name, func(t *testing.T) {
					broken := fstest.MapFS{}
					for k, v := range tree {
						broken[k] = v
					}
					cmdline := "root=PARTUUID=00000000-0000-0000-0000-000000000000 rw " + in.Spec.Image.Disk.Cmdline
					if d.apply != nil {
						d.apply(broken)
					} else {
						cmdline = "root=PARTUUID=00000000-0000-0000-0000-000000000000 rw"
					}
					results := checks.Run(context.Background(), checks.Image{Root: broken, BootEntry: "/loader/entries/strata.conf", Cmdline: cmdline}, list)
					for _, r := range results {
						if r.Name == d.check || (d.check == "package chrony" && r.Name == "the time daemon") {
							if r.Status != checks.Fail || (d.path != "" && r.Path != d.path) {
								t.Errorf("%s: %s at %q (%s); want a failure at %q", r.Name, r.Status, r.Path, r.Detail, d.path)
							}
						} else if r.Status != checks.Pass {
							t.Errorf("%s: %s (%s); only %s should fail", r.Name, r.Status, r.Detail, d.check)
						}
					}
				})
			}
		})
	}
}

// defect is a change to a faithful tree, and the check it fails with the
// path that check reports; nil apply drops the command line instead.
type defect struct {
	name, check, path string
	apply             func(fstest.MapFS)
}

// treeOf flattens st's graph into a tree: each FileOp's files,
// directories and links applied over its base, merges in their order, a
// copied file as a placeholder with the copy's (or the download's) mode.
// An exec's output is followed into the input of the mount it comes from,
// and adds nothing (see addRuntimeEffects): so an image built by an exec
// from a payload (the sysext) does not bring the payload along.
func treeOf(t *testing.T, st llb.State) fstest.MapFS {
	t.Helper()
	def, err := st.Marshal(context.Background(), llb.LinuxAmd64)
	if err != nil {
		t.Fatal(err)
	}
	ops := map[digest.Digest]*pb.Op{}
	var last digest.Digest
	for _, dt := range def.Def {
		var op pb.Op
		if err := op.UnmarshalVT(dt); err != nil {
			t.Fatal(err)
		}
		last = digest.FromBytes(dt)
		ops[last] = &op
	}
	tree := fstest.MapFS{}
	done := map[string]bool{}
	var apply func(in *pb.Input)
	input := func(op *pb.Op, i int64) *pb.Input {
		if i < 0 || i >= int64(len(op.Inputs)) {
			return nil
		}
		return op.Inputs[i]
	}
	apply = func(in *pb.Input) {
		if in == nil {
			return
		}
		key := in.Digest + "/" + strconv.FormatInt(in.Index, 10)
		if done[key] {
			return
		}
		done[key] = true
		op := ops[digest.Digest(in.Digest)]
		switch {
		case op.GetMerge() != nil:
			for _, m := range op.GetMerge().Inputs {
				apply(input(op, m.Input))
			}
		case op.GetExec() != nil:
			for _, m := range op.GetExec().Mounts {
				if m.Output == in.Index {
					apply(input(op, m.Input))
				}
			}
		case op.GetFile() != nil:
			actions := op.GetFile().Actions
			if len(actions) > 0 {
				apply(input(op, actions[0].Input))
			}
			for _, a := range actions {
				switch {
				case a.GetMkfile() != nil:
					f := a.GetMkfile()
					tree[rel(f.Path)] = &fstest.MapFile{Data: f.Data, Mode: fs.FileMode(f.Mode), Sys: &syscall.Stat_t{}}
				case a.GetMkdir() != nil:
					tree[rel(a.GetMkdir().Path)] = &fstest.MapFile{Mode: fs.ModeDir | fs.FileMode(a.GetMkdir().Mode), Sys: &syscall.Stat_t{}}
				case a.GetSymlink() != nil:
					s := a.GetSymlink()
					tree[rel(s.Newpath)] = &fstest.MapFile{Data: []byte(s.Oldpath), Mode: fs.ModeSymlink | 0o777, Sys: &syscall.Stat_t{}}
				case a.GetCopy() != nil && !a.GetCopy().AttemptUnpackDockerCompatibility:
					c := a.GetCopy()
					mode := fs.FileMode(0o644)
					if c.Mode >= 0 {
						mode = fs.FileMode(c.Mode)
					} else if src := input(op, a.SecondaryInput); src != nil {
						if s := ops[digest.Digest(src.Digest)].GetSource(); s != nil && s.Attrs[pb.AttrHTTPPerm] != "" {
							perm, _ := strconv.ParseInt(s.Attrs[pb.AttrHTTPPerm], 0, 32)
							mode = fs.FileMode(perm)
						}
					}
					tree[rel(c.Dest)] = &fstest.MapFile{Data: []byte("copied from " + c.Src), Mode: mode, Sys: &syscall.Stat_t{}}
				}
			}
		}
	}
	apply(ops[last].Inputs[0]) // the last op is the definition's output
	return tree
}

func rel(p string) string { return strings.TrimPrefix(path.Clean(p), "/") }

func mapFile(content string, mode fs.FileMode) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte(content), Mode: mode, Sys: &syscall.Stat_t{}}
}

// addRuntimeEffects adds what the steps that treeOf cannot run leave in a
// Debian node's tree: apt's packages and their unit files, `systemctl
// enable`'s links, the kernel's config, and what the release archives
// unpack (containerd under /usr/local, crictl, the CNI plugins).
func addRuntimeEffects(tree fstest.MapFS, in Input) {
	img := in.Spec.Image
	pkgs := []string{"linux-image-cloud-amd64", "systemd-sysv", "udev", "initramfs-tools", "systemd-boot-efi", "e2fsprogs",
		"iproute2", "systemd-resolved"}
	pkgs = append(pkgs, img.OS.Packages...)
	if img.Kubernetes != nil {
		pkgs = append(pkgs, "conntrack", "iptables", "ebtables", "ethtool", "socat", "libseccomp2", "apparmor",
			"ca-certificates", "chrony", "auditd", "cloud-init", "cloud-guest-utils", "sudo")
	}
	var status strings.Builder
	for _, p := range pkgs {
		status.WriteString("Package: " + p + "\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0-1\n\n")
	}
	tree["var/lib/dpkg/status"] = mapFile(status.String(), 0o644)
	tree["dev/null"] = &fstest.MapFile{Mode: fs.ModeDevice | fs.ModeCharDevice | 0o666, Sys: &syscall.Stat_t{}}
	tree["boot/config-6.1.0-28-cloud-amd64"] = mapFile("CONFIG_OVERLAY_FS=m\n", 0o644)

	unit := func(name, wantedBy string) {
		tree["usr/lib/systemd/system/"+name] = mapFile("[Unit]\nDescription="+name+"\n\n[Install]\nWantedBy="+wantedBy+"\n", 0o644)
	}
	enable := func(name, target string) {
		dir := "/etc/systemd/system/"
		if _, ok := tree[rel(dir+name)]; !ok {
			dir = "/usr/lib/systemd/system/"
		}
		tree["etc/systemd/system/"+target+".wants/"+name] = &fstest.MapFile{Data: []byte(dir + name), Mode: fs.ModeSymlink | 0o777, Sys: &syscall.Stat_t{}}
	}
	for _, u := range []string{"systemd-networkd.service", "systemd-resolved.service", "chrony.service"} {
		unit(u, "multi-user.target")
	}
	unit("apt-daily.timer", "timers.target")
	unit("apt-daily-upgrade.timer", "timers.target")
	unit("systemd-sysext.service", "sysinit.target")
	for _, u := range append([]string{"systemd-networkd", "systemd-resolved"}, img.OS.Services.Enable...) {
		if !strings.Contains(u, ".") {
			u += ".service"
		}
		enable(u, "multi-user.target")
	}
	if k := img.Kubernetes; k != nil && k.Install == "rootfs" {
		for _, bin := range []string{"usr/local/bin/containerd", "usr/local/bin/containerd-shim-runc-v2", "usr/local/bin/ctr",
			"usr/local/bin/containerd-stress", "usr/local/bin/crictl", "opt/cni/bin/bridge", "opt/cni/bin/host-local",
			"opt/cni/bin/loopback", "opt/cni/bin/portmap", "opt/cni/bin/macvlan"} {
			tree[bin] = mapFile("an executable", 0o755)
		}
	}
}
