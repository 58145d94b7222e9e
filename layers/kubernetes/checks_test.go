package kubernetes

import (
	"fmt"
	"github.com/strata-dev/strata/layers/sysext"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/strata-dev/strata/checks"
	"github.com/strata-dev/strata/spec"
)

// byDescription indexes checks by what they check ("file /usr/bin/kubelet").
func byDescription(t *testing.T, list []checks.Check) map[string]checks.Assertion {
	t.Helper()
	m := map[string]checks.Assertion{}
	for _, c := range list {
		if c.Source != ChecksSource {
			t.Errorf("%s: source %q, want %q", c.Assert.Describe(), c.Source, ChecksSource)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", c.Assert.Describe(), err)
		}
		d := c.Assert.Describe()
		if _, dup := m[d]; dup {
			t.Errorf("two checks of %s", d)
		}
		m[d] = c.Assert
	}
	return m
}

func TestChecksRootfs(t *testing.T) {
	k := testKubernetes()
	k.Bootstrap = "cloud-init"
	got := byDescription(t, Checks(k, sysext.Layout{}))
	for _, p := range []string{"/usr/bin/kubelet", "/usr/bin/kubeadm", "/usr/bin/kubectl", "/usr/local/bin/containerd",
		"/usr/local/bin/containerd-shim-runc-v2", "/usr/local/bin/ctr", "/usr/local/sbin/runc", "/usr/local/bin/crictl",
		"/opt/cni/bin/bridge", "/opt/cni/bin/host-local", "/opt/cni/bin/loopback", "/opt/cni/bin/portmap"} {
		want := checks.File{Path: p, Type: "file", Mode: "0755", Owner: "0"}
		if a := got["file "+p]; !reflect.DeepEqual(a, want) {
			t.Errorf("file %s: %#v, want %#v", p, a, want)
		}
	}
	for _, u := range []string{"containerd.service", "kubelet.service"} {
		if a := got["service "+u]; !reflect.DeepEqual(a, checks.Service{Unit: u}) {
			t.Errorf("service %s: %#v", u, a)
		}
	}
	if a := got["service swap.target"]; !reflect.DeepEqual(a, checks.Service{Unit: "swap.target", State: []string{"masked"}}) {
		t.Errorf("swap.target: %#v", a)
	}
	for _, absent := range []string{"service " + ImportUnit, "file " + importScript, "file " + Extension(k, sysext.Layout{}).StorePath()} {
		if got[absent] != nil {
			t.Errorf("without images or a sysext, a check of %s", absent)
		}
	}
	if a := got["file /etc/kubernetes-version"].(checks.File); a.Equals == nil || *a.Equals != "v1.31.2\n" {
		t.Errorf("kubernetes-version: %#v", a)
	}
	if a := got["file /etc/strata-release"].(checks.File); !reflect.DeepEqual(a.Contains, []string{"KUBERNETES_VERSION=v1.31.2\n"}) {
		t.Errorf("strata-release: %#v", a)
	}
	for _, stage := range []string{"cloud-config", "cloud-final"} {
		p := "/etc/systemd/system/" + stage + ".service.d/10-strata-kubernetes.conf"
		if a, ok := got["file "+p].(checks.File); !ok || a.Equals == nil || *a.Equals != cloudInitOrder || a.Mode != "0644" {
			t.Errorf("%s: %#v", p, got["file "+p])
		}
	}
	k.Bootstrap = "none"
	if n := len(Checks(k, sysext.Layout{})); n != len(got)-2 {
		t.Errorf("bootstrap none: %d checks, want the %d less the two cloud-init drop-ins", n, len(got))
	}
}

// TestChecksSysctlsAndModules: every setting of the files the layer writes.
func TestChecksSysctlsAndModules(t *testing.T) {
	got := byDescription(t, Checks(testKubernetes(), sysext.Layout{}))
	n := 0
	for _, line := range strings.Split(sysctls, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		n++
		key, value, _ := strings.Cut(line, " = ")
		if a := got["sysctl "+key]; !reflect.DeepEqual(a, checks.Sysctl{Key: key, Value: value}) {
			t.Errorf("sysctl %s: %#v, want value %q", key, a, value)
		}
	}
	if n < 11 {
		t.Errorf("only %d sysctls in the layer's file", n)
	}
	for _, m := range []string{"overlay", "br_netfilter"} {
		if a := got["module "+m]; !reflect.DeepEqual(a, checks.Module{Name: m}) {
			t.Errorf("module %s: %#v", m, a)
		}
	}
	if a := got["sysctl net.ipv4.tcp_congestion_control"]; a.(checks.Sysctl).Value != "bbr" {
		t.Errorf("tcp_congestion_control: %#v", a)
	}
}

// TestChecksSandboxPin: the pin in the key of each config schema.
func TestChecksSandboxPin(t *testing.T) {
	for containerd, want := range map[string]string{
		"1.7.22": `sandbox_image = "registry.k8s.io/pause:3.10"`,
		"2.3.2":  `sandbox = "registry.k8s.io/pause:3.10"`,
	} {
		k := testKubernetes()
		k.Containerd = containerd
		a, _ := byDescription(t, Checks(k, sysext.Layout{}))["file /etc/containerd/config.toml"].(checks.File)
		if !reflect.DeepEqual(a.Contains, []string{want, "SystemdCgroup = true"}) {
			t.Errorf("containerd %s: config check %#v, want it to contain %s", containerd, a, want)
		}
		cfg, _ := containerdConfig(containerd, k.SandboxImage)
		for _, s := range a.Contains {
			if !strings.Contains(cfg, s) {
				t.Errorf("containerd %s: the layer's config lacks %q", containerd, s)
			}
		}
	}
}

func TestChecksImages(t *testing.T) {
	k := testKubernetes()
	k.Images = []spec.Image{{Name: "kube-proxy"}, {Name: "pause", URL: "https://m.example/pause.tar"}}
	got := byDescription(t, Checks(k, sysext.Layout{}))
	for _, name := range []string{"kube-proxy", "pause"} {
		p := ImagesDir + "/" + name + ".tar"
		if a := got["file "+p]; !reflect.DeepEqual(a, checks.File{Path: p, Type: "file", Mode: "0644", Owner: "0"}) {
			t.Errorf("%s: %#v", p, a)
		}
	}
	if got["service "+ImportUnit] == nil || got["file "+importScript] == nil {
		t.Errorf("no check of the import unit or its script: %v", keys(got))
	}
}

func TestChecksSysext(t *testing.T) {
	k := testKubernetes()
	k.Install = "sysext"
	k.Images = []spec.Image{{Name: "kube-proxy"}}
	k.Sysext = &spec.Sysext{Updates: "https://updates.example/k8s/"}
	got := byDescription(t, Checks(k, sysext.Layout{}))
	for d := range got {
		// The payload is in the extension: nothing under /usr or /opt is
		// looked for in the root filesystem.
		if p, ok := strings.CutPrefix(d, "file "); ok && IsPayloadPath(p) {
			t.Errorf("install: sysext checks %s, which is in the extension", p)
		}
	}
	store := "/var/lib/strata/extensions/kubernetes-v1.31.2-x86-64.raw"
	if a := got["file "+store]; !reflect.DeepEqual(a, checks.File{Path: store, Type: "file"}) {
		t.Errorf("image: %#v (have %v)", a, keys(got))
	}
	if a := got["file /var/lib/extensions/kubernetes.raw"].(checks.File); a.Target == nil || *a.Target != store {
		t.Errorf("link: %#v", a)
	}
	for _, u := range []string{"containerd.service", "kubelet.service", ImportUnit} {
		a, _ := got["file "+wantsDir+u].(checks.File)
		if a.Target == nil || *a.Target != "/usr/lib/systemd/system/"+u {
			t.Errorf("enablement of %s: %#v", u, got["file "+wantsDir+u])
		}
		if got["service "+u] != nil {
			t.Errorf("install: sysext checks the state of %s, whose unit file is in the extension", u)
		}
	}
	for _, u := range []string{"service systemd-sysext.service", "service strata-sysext-reload.service", "sysctl net.ipv4.ip_forward",
		"module br_netfilter", "file /etc/containerd/config.toml", "file /etc/kubernetes-version",
		"file /etc/sysupdate.kubernetes.d/kubernetes.transfer"} {
		if got[u] == nil {
			t.Errorf("install: sysext has no check %s", u)
		}
	}
}

// TestArchiveExecutablesCoverTheCatalog: every archive the layer unpacks
// has the executables it must leave.
func TestArchiveExecutablesCoverTheCatalog(t *testing.T) {
	for _, e := range catalog {
		if e.install.unpackTo != "" && len(archiveExecutables[e.name]) == 0 {
			t.Errorf("archive %s: no executables to check", e.name)
		}
	}
	for name := range archiveExecutables {
		if a := findCatalog(name); a == nil || a.install.unpackTo == "" {
			t.Errorf("archiveExecutables names %s, which is no archive of the catalog", name)
		}
	}
	if _, err := checks.Marshal(Checks(testKubernetes(), sysext.Layout{})); err != nil {
		t.Error(err)
	}
}

func findCatalog(name string) *catalogEntry {
	for i := range catalog {
		if catalog[i].name == name {
			return &catalog[i]
		}
	}
	return nil
}

func keys(m map[string]checks.Assertion) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return fmt.Sprint(out)
}

// TestChecksDocumented: docs/validation.md's table names every file, unit,
// sysctl and module the layer's checks look for.
func TestChecksDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/validation.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, install := range []string{"rootfs", "sysext"} {
		k := testKubernetes()
		k.Install, k.Bootstrap = install, "cloud-init"
		k.Images = []spec.Image{{Name: "kube-proxy"}}
		k.Sysext = &spec.Sysext{Updates: "https://updates.example/"}
		for _, c := range Checks(k, sysext.Layout{}) {
			var name, alt string
			switch a := c.Assert.(type) {
			case checks.File:
				name = strings.ReplaceAll(strings.ReplaceAll(a.Path, k.Version, "vX.Y.Z"), "kube-proxy", "NAME")
				if strings.HasPrefix(name, wantsDir) {
					name = wantsDir // the table names the directory of the links
				}
			case checks.Service:
				name, alt = strings.TrimSuffix(a.Unit, ".service"), a.Unit
			case checks.Sysctl:
				name = a.Key
			case checks.Module:
				name = a.Name
			}
			if !strings.Contains(string(doc), "`"+name) && !strings.Contains(string(doc), " "+name+"`") && (alt == "" || !strings.Contains(string(doc), alt+"`")) {
				t.Errorf("docs/validation.md does not name %s (%s)", name, c.Assert.Describe())
			}
		}
	}
}
