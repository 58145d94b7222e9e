package main

import (
	"context"
	"os"
	"strings"
	"testing"
)

// kubeadmConstantsSample is shaped like constants.go of v1.36.3.
const kubeadmConstantsSample = `
	// DefaultEtcdVersion indicates the default etcd version that kubeadm uses
	DefaultEtcdVersion = "3.6.8-0"

	// CoreDNSVersion is the version of CoreDNS to be deployed if it is used
	CoreDNSVersion = "v1.14.2"

	SupportedEtcdVersion = map[uint8]string{
		34: "3.5.24-0",
		35: "3.6.5-0",
		36: "3.6.8-0",
	}
`

func TestParseKubeadmConstants(t *testing.T) {
	for _, tt := range []struct {
		release, etcd string
	}{
		{"v1.36.3", "3.6.8-0"},
		{"v1.35.1", "3.6.5-0"},
		// Outside the map kubeadm takes the nearest entry.
		{"v1.37.0", "3.6.8-0"},
		{"v1.30.0", "3.5.24-0"},
	} {
		p, err := parseKubeadmConstants([]byte(kubeadmConstantsSample), tt.release)
		if err != nil {
			t.Errorf("%s: %v", tt.release, err)
			continue
		}
		if p.etcdTag != tt.etcd || p.coreDNS != "v1.14.2" || p.kubernetes != tt.release {
			t.Errorf("%s: %+v, want etcd %s and CoreDNS v1.14.2", tt.release, *p, tt.etcd)
		}
	}
	// In a gap of the map kubeadm's lookup fails, and it runs the default.
	gap := strings.Replace(strings.Replace(kubeadmConstantsSample, "35:", "33:", 1), `DefaultEtcdVersion = "3.6.8-0"`, `DefaultEtcdVersion = "3.6.9-0"`, 1)
	if p, err := parseKubeadmConstants([]byte(gap), "v1.35.0"); err != nil || p.etcdTag != "3.6.9-0" {
		t.Errorf("in a gap: %+v, %v; want DefaultEtcdVersion", p, err)
	}

	p, _ := parseKubeadmConstants([]byte(kubeadmConstantsSample), "v1.36.3")
	if p.etcdVersion() != "v3.6.8" || p.etcdImage() != "registry.k8s.io/etcd:3.6.8-0" ||
		p.corednsImage() != "registry.k8s.io/coredns/coredns:v1.14.2" {
		t.Errorf("names: %s %s %s", p.etcdVersion(), p.etcdImage(), p.corednsImage())
	}

	for name, src := range map[string]string{
		"no CoreDNSVersion":    strings.Replace(kubeadmConstantsSample, "CoreDNSVersion =", "CoreDNSVersionX =", 1),
		"no etcd map":          strings.Replace(kubeadmConstantsSample, "SupportedEtcdVersion =", "Other =", 1),
		"an empty etcd map":    kubeadmConstantsSample[:strings.Index(kubeadmConstantsSample, "34:")] + "}\n",
		"a gap and no default": strings.Replace(strings.Replace(kubeadmConstantsSample, "35:", "33:", 1), "DefaultEtcdVersion =", "Other =", 1),
	} {
		if p, err := parseKubeadmConstants([]byte(src), "v1.35.0"); err == nil {
			t.Errorf("%s: parsed as %+v", name, *p)
		}
	}
	if _, err := parseKubeadmConstants([]byte(kubeadmConstantsSample), "v1.36.3-rc.0"); err == nil {
		t.Error("a pre-release parsed")
	}
}

// TestKubeadmPinsCheck: a Kubernetes bump that leaves etcd or CoreDNS
// behind fails, naming the module and the command that moves it.
func TestKubeadmPinsCheck(t *testing.T) {
	in := testInputs()
	if err := in.kubeadm.check(in.etcd, in.coredns); err != nil {
		t.Fatal(err)
	}
	in.etcd.release.Version = "v3.6.7"
	err := in.kubeadm.check(in.etcd, in.coredns)
	if err == nil || !strings.Contains(err.Error(), "e2e/k8stools/etcd pins go.etcd.io/etcd/server/v3 v3.6.7") ||
		!strings.Contains(err.Error(), "go get go.etcd.io/etcd/server/v3@v3.6.8") {
		t.Errorf("etcd behind: %v", err)
	}
	in = testInputs()
	in.kubeadm.coreDNS = "v1.14.3"
	err = in.kubeadm.check(in.etcd, in.coredns)
	if err == nil || !strings.Contains(err.Error(), "go get github.com/coredns/coredns@v1.14.3") {
		t.Errorf("CoreDNS behind: %v", err)
	}

	in = testInputs()
	if err := checkSameRelease(in.kube, in.controlPlane); err != nil {
		t.Fatal(err)
	}
	in.controlPlane.release.Version = "v1.36.2"
	if err := checkSameRelease(in.kube, in.controlPlane); err == nil || !strings.Contains(err.Error(), "pin.sh v1.36.3") {
		t.Errorf("control plane behind: %v", err)
	}
}

func TestExecName(t *testing.T) {
	for pkg, want := range map[string]string{
		"k8s.io/kubernetes/cmd/kube-apiserver": "kube-apiserver",
		"go.etcd.io/etcd/server/v3":            "server",
		"github.com/coredns/coredns":           "coredns",
		"example.com/tool/vx":                  "vx",
		"v2":                                   "v2",
	} {
		if got := execName(pkg); got != want {
			t.Errorf("execName(%q) = %q, want %q", pkg, got, want)
		}
	}
}

func TestStampCommit(t *testing.T) {
	m := module{Version: "v3.6.8"}
	if got := etcdTool.LDFlags(m); got != "" {
		t.Errorf("etcd ldflags without a commit: %q", got)
	}
	if got := corednsTool.LDFlags(m); got != "-s -w" {
		t.Errorf("CoreDNS ldflags without a commit: %q", got)
	}
	m.Origin = &struct{ Hash string }{"dd1df4f5db93767a44e37638df44969503b320d2"}
	if got := etcdTool.LDFlags(m); got != "-X go.etcd.io/etcd/api/v3/version.GitSHA=dd1df4f" {
		t.Errorf("etcd ldflags: %q", got)
	}
	if got := corednsTool.LDFlags(m); got != "-s -w -X github.com/coredns/coredns/coremain.GitCommit=dd1df4f" {
		t.Errorf("CoreDNS ldflags: %q", got)
	}
}

// TestKubeadmPinsFromModule reads the pinned release's real constants.go
// and checks the etcd and CoreDNS modules against it. It needs the module
// cache to hold k8s.io/kubernetes, so it runs in the e2e tier.
func TestKubeadmPinsFromModule(t *testing.T) {
	if os.Getenv("STRATA_E2E") != "1" {
		t.Skip("e2e tier: set STRATA_E2E=1")
	}
	ctx := context.Background()
	repo, err := findRepo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kube, err := kubeTool.resolve(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	p, err := resolveKubeadmPins(ctx, kube)
	if err != nil {
		t.Fatal(err)
	}
	var builds []*goBuild
	for _, tool := range []goTool{etcdTool, corednsTool, controlPlaneTool} {
		b, err := tool.resolve(ctx, repo)
		if err != nil {
			t.Fatal(err)
		}
		builds = append(builds, b)
	}
	if err := p.check(builds[0], builds[1]); err != nil {
		t.Error(err)
	}
	if err := checkSameRelease(kube, builds[2]); err != nil {
		t.Error(err)
	}
	t.Logf("kubeadm %s: %s, %s", kube.release.Version, p.etcdImage(), p.corednsImage())
}
