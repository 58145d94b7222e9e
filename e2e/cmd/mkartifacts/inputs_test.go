package main

import (
	"maps"
	"strings"
	"testing"
	"time"
)

func TestUpstreamVersion(t *testing.T) {
	for deb, want := range map[string]string{
		"1.6.20~ds1-1+deb12u3": "1.6.20",
		"1.1.5+ds1-1+deb12u1":  "1.1.5",
		"1.1.1+ds1-3+b5":       "1.1.1",
		"1:2.5.4-1+b3":         "2.5.4",
		"1.7.24~ds1-3":         "1.7.24",
		"2.1.0-1":              "2.1.0",
		"1.0":                  "1.0",
	} {
		if got := upstreamVersion(deb); got != want {
			t.Errorf("upstreamVersion(%q) = %q, want %q", deb, got, want)
		}
	}
}

func TestParsePolicy(t *testing.T) {
	out := `containerd:
  Installed: (none)
  Candidate: 1.6.20~ds1-1+deb12u3
  Version table:
     1.6.20~ds1-1+deb12u3 500
        500 http://mirror.invalid/debian-security bookworm-security/main amd64 Packages
     1.6.20~ds1-1+b1 500
        500 http://mirror.invalid/debian bookworm/main amd64 Packages
runc:
  Installed: 1.1.5+ds1-1+deb12u1
  Candidate: 1.1.5+ds1-1+deb12u1
  Version table:
 *** 1.1.5+ds1-1+deb12u1 500
        100 /var/lib/dpkg/status
gone:
  Installed: (none)
  Candidate: (none)
  Version table:
`
	got := parsePolicy([]byte(out))
	want := map[string]string{
		"containerd": "1.6.20~ds1-1+deb12u3",
		"runc":       "1.1.5+ds1-1+deb12u1",
		"gone":       "(none)",
	}
	if !maps.Equal(got, want) {
		t.Errorf("parsePolicy = %v, want %v", got, want)
	}
}

func TestKubeLDFlags(t *testing.T) {
	m := module{Path: "k8s.io/kubernetes", Version: "v1.36.3", Time: time.Date(2026, 7, 22, 18, 7, 38, 0, time.UTC)}
	got := kubeLDFlags(m)
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		for _, want := range []string{
			"-X '" + pkg + ".gitVersion=v1.36.3'",
			"-X '" + pkg + ".gitMajor=1'",
			"-X '" + pkg + ".gitMinor=36'",
			"-X '" + pkg + ".gitTreeState=clean'",
			"-X '" + pkg + ".buildDate=2026-07-22T18:07:38Z'",
			"-X '" + pkg + ".gitCommit='",
		} {
			if !strings.Contains(got, want) {
				t.Errorf("ldflags lack %s:\n%s", want, got)
			}
		}
	}
	if !strings.HasSuffix(got, "-s -w") {
		t.Errorf("ldflags do not strip like a release build: %s", got)
	}

	m.Origin = &struct{ Hash string }{"0123abcd"}
	if got := kubeLDFlags(m); !strings.Contains(got, "version.gitCommit=0123abcd'") {
		t.Errorf("commit from the proxy not stamped: %s", got)
	}
}

// testInputs are inputs shaped like the real ones, resolved against
// nothing.
func testInputs() *inputs {
	build := func(tool goTool, version string) *goBuild {
		b := &goBuild{tool: tool, release: module{Version: version}, goVersion: "go1.26.8", modDigest: "aa"}
		b.ldflags = tool.LDFlags(b.release)
		return b
	}
	return &inputs{
		debs: map[string]debPin{
			"containerd":                  {"containerd", "1.6.20~ds1-1+deb12u3"},
			"runc":                        {"runc", "1.1.5+ds1-1+deb12u1"},
			"containernetworking-plugins": {"containernetworking-plugins", "1.1.1+ds1-3+b5"},
		},
		kube:         build(kubeTool, "v1.36.3"),
		kubePrev:     build(kubePreviousTool, "v1.36.2"),
		crictl:       build(crictlTool, "v1.36.0"),
		kubeProxy:    build(kubeProxyTool, "v1.36.3"),
		pause:        &pauseBuild{srcDigest: "cc", tag: "3.10.2", rev: "v1.36.3", gcc: "gcc (Debian 12.2.0-14+deb12u1) 12.2.0"},
		controlPlane: build(controlPlaneTool, "v1.36.3"),
		etcd:         build(etcdTool, "v3.6.8"),
		coredns:      build(corednsTool, "v1.14.2"),
		kubeadm:      &kubeadmPins{kubernetes: "v1.36.3", etcdTag: "3.6.8-0", coreDNS: "v1.14.2"},
	}
}

// TestKeyCoversInputs: every input that changes the tree changes the key.
func TestKeyCoversInputs(t *testing.T) {
	base := testInputs
	key := base().key()
	if again := base().key(); again != key {
		t.Fatalf("key is not stable: %s, then %s", key, again)
	}
	for name, change := range map[string]func(*inputs){
		"a Debian security update":  func(in *inputs) { in.debs["runc"] = debPin{"runc", "1.1.5+ds1-1+deb12u2"} },
		"go.sum":                    func(in *inputs) { in.kube.modDigest = "bb" },
		"the Go toolchain":          func(in *inputs) { in.crictl.goVersion = "go1.26.9" },
		"GOFLAGS":                   func(in *inputs) { in.kube.goFlags = "-race" },
		"ldflags":                   func(in *inputs) { in.kube.ldflags += " -X x.y=z" },
		"the previous release":      func(in *inputs) { in.kubePrev.release.Version = "v1.36.1" },
		"the previous go.sum":       func(in *inputs) { in.kubePrev.modDigest = "bb" },
		"kube-proxy's flags":        func(in *inputs) { in.kubeProxy.ldflags += " -X x.y=z" },
		"pause.c":                   func(in *inputs) { in.pause.srcDigest = "dd" },
		"the pause tag":             func(in *inputs) { in.pause.tag = "3.10.3" },
		"the C compiler":            func(in *inputs) { in.pause.gcc = "gcc (Debian 12.2.0-14+deb12u2) 12.2.0" },
		"the control plane's pin":   func(in *inputs) { in.controlPlane.modDigest = "bb" },
		"the control plane's flags": func(in *inputs) { in.controlPlane.ldflags += " -X x.y=z" },
		"the etcd release":          func(in *inputs) { in.etcd.release.Version = "v3.6.9" },
		"etcd's go.sum":             func(in *inputs) { in.etcd.modDigest = "bb" },
		"the CoreDNS release":       func(in *inputs) { in.coredns.release.Version = "v1.14.3" },
		"CoreDNS's flags":           func(in *inputs) { in.coredns.ldflags += " -X x.y=z" },
		"the etcd image revision":   func(in *inputs) { in.kubeadm.etcdTag = "3.6.8-1" },
		"kubeadm's CoreDNS":         func(in *inputs) { in.kubeadm.coreDNS = "v1.14.3" },
	} {
		in := base()
		change(in)
		if in.key() == key {
			t.Errorf("changing %s keeps the key", name)
		}
	}

	rel := base().release()
	if rel != testRelease {
		t.Errorf("release() = %+v, want %+v", rel, testRelease)
	}
}

func TestOlderRelease(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{"v1.36.2", "v1.36.3", true},
		{"v1.35.9", "v1.36.0", true},
		{"v1.36.10", "v1.36.9", false}, // numbers, not strings
		{"v1.36.3", "v1.36.3", false},
		{"v1.36.4", "v1.36.3", false},
		{"v1.36.2-rc.0", "v1.36.3", false},
		{"1.36.2", "v1.36.3", false},
		{"v1.36", "v1.36.3", false},
	} {
		if got := olderRelease(tt.a, tt.b); got != tt.want {
			t.Errorf("olderRelease(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}
