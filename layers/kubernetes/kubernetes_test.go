package kubernetes

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"
	"github.com/strata-dev/strata/spec"
)

const hexA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
const hexB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

func TestParseChecksum(t *testing.T) {
	tests := []struct {
		name, data, file string
		want             string
		err              string
	}{
		{name: "bare digest (dl.k8s.io)", data: hexA + "\n", file: "kubelet", want: "sha256:" + hexA},
		{name: "bare digest, uppercase", data: strings.ToUpper(hexA), file: "kubelet", want: "sha256:" + hexA},
		{name: "sha256sum line (containerd)", data: hexA + "  containerd-1.7.22-linux-amd64.tar.gz\n",
			file: "containerd-1.7.22-linux-amd64.tar.gz", want: "sha256:" + hexA},
		{name: "several lines (runc)", data: hexA + "  runc.arm64\n" + hexB + " *runc.amd64\n", file: "runc.amd64", want: "sha256:" + hexB},
		{name: "line with a directory", data: hexB + "  bin/runc.amd64\n", file: "runc.amd64", want: "sha256:" + hexB},
		{name: "no line for the file", data: hexA + "  runc.arm64\n", file: "runc.amd64", err: "no line for runc.amd64 among its 1 lines"},
		{name: "html error page", data: "<html><body>Not Found</body></html>", file: "kubelet",
			err: `line 1 is in an unexpected format: want a sha256 hex digest, or sha256sum lines "<digest>  <file>"; got "<html><body>Not Found</body></html>"`},
		{name: "short digest", data: "abc123", file: "kubelet", err: `line 1 is in an unexpected format`},
		{name: "md5 line", data: "d41d8cd98f00b204e9800998ecf8427e  kubelet", file: "kubelet", err: "line 1 is in an unexpected format"},
		{name: "empty", data: " \n\n", file: "kubelet", err: "the file is empty"},
		// The line for the file is fine, but the file is not what upstream
		// publishes: refuse it rather than trust one line of it.
		{name: "bad line after the good one", data: hexA + "  runc.amd64\n" + "sha512:abc  runc.arm64\n", file: "runc.amd64",
			err: `line 2 is in an unexpected format: want a sha256 hex digest, or sha256sum lines "<digest>  <file>"; got "sha512:abc  runc.arm64"`},
		{name: "line numbers count leading blank lines", data: "\n\n" + hexA + "  a\n<p>\n", file: "a", err: `line 4 is in an unexpected format`},
		{name: "long lines are clipped", data: strings.Repeat("x", 200), file: "kubelet", err: `got "` + strings.Repeat("x", 80) + `..."`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseChecksum([]byte(tt.data), tt.file)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || got != digest.Digest(tt.want) {
				t.Fatalf("got %s, %v; want %s", got, err, tt.want)
			}
		})
	}
}

func testKubernetes() *spec.Kubernetes {
	return &spec.Kubernetes{Version: "v1.31.2", Containerd: "1.7.22", Runc: "1.1.14", Crictl: "1.31.1", CNI: "1.5.1",
		Install: "rootfs", SandboxImage: "registry.k8s.io/pause:3.10"}
}

func TestArtifactsUpstream(t *testing.T) {
	want := map[string][2]string{
		"containerd": {"https://github.com/containerd/containerd/releases/download/v1.7.22/containerd-1.7.22-linux-amd64.tar.gz",
			"https://github.com/containerd/containerd/releases/download/v1.7.22/containerd-1.7.22-linux-amd64.tar.gz.sha256sum"},
		"runc": {"https://github.com/opencontainers/runc/releases/download/v1.1.14/runc.amd64",
			"https://github.com/opencontainers/runc/releases/download/v1.1.14/runc.sha256sum"},
		"crictl": {"https://github.com/kubernetes-sigs/cri-tools/releases/download/v1.31.1/crictl-v1.31.1-linux-amd64.tar.gz",
			"https://github.com/kubernetes-sigs/cri-tools/releases/download/v1.31.1/crictl-v1.31.1-linux-amd64.tar.gz.sha256"},
		"cni": {"https://github.com/containernetworking/plugins/releases/download/v1.5.1/cni-plugins-linux-amd64-v1.5.1.tgz",
			"https://github.com/containernetworking/plugins/releases/download/v1.5.1/cni-plugins-linux-amd64-v1.5.1.tgz.sha256"},
		"kubelet": {"https://dl.k8s.io/release/v1.31.2/bin/linux/amd64/kubelet", "https://dl.k8s.io/release/v1.31.2/bin/linux/amd64/kubelet.sha256"},
		"kubeadm": {"https://dl.k8s.io/release/v1.31.2/bin/linux/amd64/kubeadm", "https://dl.k8s.io/release/v1.31.2/bin/linux/amd64/kubeadm.sha256"},
		"kubectl": {"https://dl.k8s.io/release/v1.31.2/bin/linux/amd64/kubectl", "https://dl.k8s.io/release/v1.31.2/bin/linux/amd64/kubectl.sha256"},
	}
	arts := Artifacts(testKubernetes())
	if len(arts) != len(want) {
		t.Fatalf("%d artifacts, want %d", len(arts), len(want))
	}
	for _, a := range arts {
		w := want[a.Name]
		if a.URL != w[0] || a.ChecksumURL != w[1] {
			t.Errorf("%s: %s (%s), want %s (%s)", a.Name, a.URL, a.ChecksumURL, w[0], w[1])
		}
		// A release tree is the upstream layout with the hosts dropped.
		for _, host := range []string{"https://dl.k8s.io/", "https://github.com/"} {
			if p, ok := strings.CutPrefix(w[0], host); ok && (a.Path != p || a.ChecksumPath != strings.TrimPrefix(w[1], host)) {
				t.Errorf("%s: tree paths %s (%s), want %s (%s)", a.Name, a.Path, a.ChecksumPath, p, strings.TrimPrefix(w[1], host))
			}
		}
	}
}

func TestArtifactsMirrorAndOverrides(t *testing.T) {
	k := testKubernetes()
	k.Source = "http://127.0.0.1:8080/mirror/"
	k.Artifacts = &spec.Artifacts{
		Kubelet: spec.Artifact{SHA256: hexA},
		Runc:    spec.Artifact{URL: "https://internal.example/runc/v1.1.14/runc.amd64"},
		CNI:     spec.Artifact{URL: "https://internal.example/cni.tgz", SHA256: hexB},
	}
	got := map[string]Artifact{}
	for _, a := range Artifacts(k) {
		got[a.Name] = a
	}
	if a := got["kubeadm"]; a.URL != "http://127.0.0.1:8080/mirror/release/v1.31.2/bin/linux/amd64/kubeadm" || a.ChecksumURL != a.URL+".sha256" {
		t.Errorf("kubeadm through the mirror: %s, %s", a.URL, a.ChecksumURL)
	}
	// The source's own path is not part of the layout.
	if a := got["kubeadm"]; a.Path != "release/v1.31.2/bin/linux/amd64/kubeadm" || a.ChecksumPath != a.Path+".sha256" {
		t.Errorf("kubeadm tree paths: %s, %s", a.Path, a.ChecksumPath)
	}
	if a := got["containerd"]; a.URL != "http://127.0.0.1:8080/mirror/containerd/containerd/releases/download/v1.7.22/containerd-1.7.22-linux-amd64.tar.gz" {
		t.Errorf("containerd through the mirror: %s", a.URL)
	}
	if a := got["kubelet"]; a.Pinned != hexA || a.ChecksumURL != "" || a.ChecksumPath != "" {
		t.Errorf("pinned kubelet: pinned %q, checksum URL %q, path %q (a pin must skip the checksum file)", a.Pinned, a.ChecksumURL, a.ChecksumPath)
	}
	// A url override moves the download, not the artifact's place in a tree.
	if a := got["runc"]; a.Path != "opencontainers/runc/releases/download/v1.1.14/runc.amd64" || a.ChecksumPath != "opencontainers/runc/releases/download/v1.1.14/runc.sha256sum" {
		t.Errorf("runc tree paths with a url override: %s, %s", a.Path, a.ChecksumPath)
	}
	if a := got["runc"]; a.URL != "https://internal.example/runc/v1.1.14/runc.amd64" || a.ChecksumURL != "https://internal.example/runc/v1.1.14/runc.sha256sum" || a.File != "runc.amd64" {
		t.Errorf("runc override: %+v", a)
	}
	if a := got["cni"]; a.URL != "https://internal.example/cni.tgz" || a.Pinned != hexB || a.File != "cni.tgz" {
		t.Errorf("cni override: %+v", a)
	}
}

func TestContainerdConfigSchema(t *testing.T) {
	v2, err := containerdConfig("1.7.22", "registry.k8s.io/pause:3.10")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"version = 2\n", `sandbox_image = "registry.k8s.io/pause:3.10"`, `[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]` + "\n  SystemdCgroup = true", `config_path = "/etc/containerd/certs.d"`, `imports = ["/etc/containerd/conf.d/*.toml"]`} {
		if !strings.Contains(v2, want) {
			t.Errorf("containerd 1.x config lacks %q:\n%s", want, v2)
		}
	}
	v3, err := containerdConfig("2.1.4", "registry.k8s.io/pause:3.10")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"version = 3\n", `sandbox = "registry.k8s.io/pause:3.10"`, `[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]` + "\n  SystemdCgroup = true", `config_path = "/etc/containerd/certs.d"`} {
		if !strings.Contains(v3, want) {
			t.Errorf("containerd 2.x config lacks %q:\n%s", want, v3)
		}
	}
	if _, err := containerdConfig("3.0.0", "x"); err == nil {
		t.Error("containerd 3.x: no error for an unknown schema")
	}
}

func TestBuildNeedsEveryDigest(t *testing.T) {
	_, err := Build(Input{Kubernetes: testKubernetes(), Digests: map[string]digest.Digest{"kubelet": "sha256:" + hexA}, KubeletEnvFile: "/etc/default/kubelet"})
	if err == nil || !strings.Contains(err.Error(), "no verified digest for containerd, runc, crictl, cni, kubeadm, kubectl") {
		t.Fatalf("err = %v", err)
	}
}

func fakeDigests() map[string]digest.Digest {
	out := map[string]digest.Digest{}
	for _, a := range Artifacts(testKubernetes()) {
		out[a.Name] = digest.FromString(a.Name)
	}
	return out
}

// graphOps marshals st and returns its ops with their vertex names.
func graphOps(t *testing.T, st llb.State) ([]*pb.Op, []string) {
	t.Helper()
	def, err := st.Marshal(context.Background(), llb.LinuxAmd64)
	if err != nil {
		t.Fatal(err)
	}
	var ops []*pb.Op
	var names []string
	for _, dt := range def.Def {
		op := &pb.Op{}
		if err := op.UnmarshalVT(dt); err != nil {
			t.Fatal(err)
		}
		ops = append(ops, op)
		names = append(names, def.Metadata[digest.FromBytes(dt)].Description["llb.customname"])
	}
	return ops, names
}

func TestBuildFromTree(t *testing.T) {
	tree := &Tree{Name: "context kubernetes-artifacts", State: llb.Local("artifacts")}
	layer, err := Build(Input{Kubernetes: testKubernetes(), Digests: fakeDigests(), Tree: tree, KubeletEnvFile: "/etc/default/kubelet"})
	if err != nil {
		t.Fatal(err)
	}
	ops, names := graphOps(t, layer.Tree())
	copies := map[string]*pb.FileActionCopy{}
	for i, op := range ops {
		if src := op.GetSource(); src != nil && src.Identifier != "local://artifacts" {
			t.Errorf("a tree build has the source %s: nothing may be fetched", src.Identifier)
		}
		for _, action := range op.GetFile().GetActions() {
			if cp := action.GetCopy(); cp != nil {
				copies[cp.Src] = cp
				if !strings.Contains(names[i], "from context kubernetes-artifacts:"+strings.TrimPrefix(cp.Src, "/")) {
					t.Errorf("copy of %s is named %q", cp.Src, names[i])
				}
			}
		}
	}
	kubelet := "/release/v1.31.2/bin/linux/amd64/kubelet"
	want := "[kubernetes 1/3] install kubelet v1.31.2 from context kubernetes-artifacts:release/v1.31.2/bin/linux/amd64/kubelet (" + short(digest.FromString("kubelet")) + ")"
	if !slices.Contains(names, want) {
		t.Errorf("no vertex %q among %q", want, names)
	}
	if len(copies) != len(Artifacts(testKubernetes())) {
		t.Fatalf("%d copies from the tree, want one per artifact: %v", len(copies), copies)
	}
	if cp := copies[kubelet]; cp == nil || cp.Dest != "/usr/bin/kubelet" || cp.Mode != 0o755 || !cp.FollowSymlink || cp.AttemptUnpackDockerCompatibility {
		t.Errorf("kubelet copy: %+v (want /usr/bin/kubelet, mode 0755, through symlinks)", cp)
	}
	tarball := "/containerd/containerd/releases/download/v1.7.22/containerd-1.7.22-linux-amd64.tar.gz"
	if cp := copies[tarball]; cp == nil || cp.Dest != "/usr/local/" || !cp.AttemptUnpackDockerCompatibility || cp.Mode != -1 {
		t.Errorf("containerd copy: %+v (want unpacked into /usr/local/ with its own modes)", cp)
	}
}

// TestPayloadHoldsOnlyUsrAndOpt: a sysext carries the payload and merges
// only /usr and /opt; anything else in it would silently vanish on the node.
func TestPayloadHoldsOnlyUsrAndOpt(t *testing.T) {
	layer, err := Build(Input{Kubernetes: testKubernetes(), Digests: fakeDigests(), KubeletEnvFile: "/etc/default/kubelet"})
	if err != nil {
		t.Fatal(err)
	}
	check := func(part string, st llb.State, wantPayload bool) {
		ops, _ := graphOps(t, st)
		seen := 0
		for _, op := range ops {
			for _, action := range op.GetFile().GetActions() {
				var dest string
				switch {
				case action.GetCopy() != nil:
					dest = action.GetCopy().Dest
				case action.GetMkfile() != nil:
					dest = action.GetMkfile().Path
				case action.GetMkdir() != nil:
					dest = action.GetMkdir().Path
				case action.GetSymlink() != nil:
					dest = action.GetSymlink().Newpath
				default:
					continue
				}
				seen++
				if IsPayloadPath(dest) != wantPayload {
					t.Errorf("%s writes %s", part, dest)
				}
			}
		}
		if seen == 0 {
			t.Errorf("%s writes nothing", part)
		}
	}
	check("payload", layer.Payload(), true)
	check("config", layer.Config, false)
}

// buildAt builds k's layer at version, with a fake digest per artifact that
// changes with the artifact's version, as a fetched checksum would.
func buildAt(t *testing.T, k *spec.Kubernetes, version string) Layer {
	t.Helper()
	k.Version = version
	digests := map[string]digest.Digest{}
	for _, a := range Artifacts(k) {
		digests[a.Name] = digest.FromString(a.Name + " " + a.Version)
	}
	layer, err := Build(Input{Kubernetes: k, Digests: digests, KubeletEnvFile: "/etc/default/kubelet"})
	if err != nil {
		t.Fatal(err)
	}
	return layer
}

// TestVersionBumpReinstallsOnlyItsArtifacts: each download has an install
// step of its own, so bumping kubernetes.version changes the steps that
// install kubelet, kubeadm and kubectl and leaves the others' (the
// tarballs' unpacking among them) as they were, for BuildKit to take from
// its cache.
func TestVersionBumpReinstallsOnlyItsArtifacts(t *testing.T) {
	runtime := map[string]digest.Digest{}
	installs := func(version string) map[string]digest.Digest {
		layer := buildAt(t, testKubernetes(), version)
		def, err := layer.Payload().Marshal(context.Background(), llb.LinuxAmd64)
		if err != nil {
			t.Fatal(err)
		}
		rt, err := layer.Runtime.Marshal(context.Background(), llb.LinuxAmd64)
		if err != nil {
			t.Fatal(err)
		}
		runtime[version] = digest.FromBytes(rt.Def[len(rt.Def)-1])
		out := map[string]digest.Digest{}
		for _, dt := range def.Def {
			name := def.Metadata[digest.FromBytes(dt)].Description["llb.customname"]
			if rest, ok := strings.CutPrefix(name, "[kubernetes 1/3] install "); ok {
				artifact, _, _ := strings.Cut(rest, " ")
				out[artifact] = digest.FromBytes(dt)
			}
		}
		return out
	}
	before, after := installs("v1.31.2"), installs("v1.31.3")
	if len(before) != len(catalog) {
		t.Fatalf("%d install steps, want one per artifact: %v", len(before), before)
	}
	for name, d := range before {
		changed := after[name] != d
		if want := name == "kubelet" || name == "kubeadm" || name == "kubectl"; changed != want {
			t.Errorf("install %s: changed by the version bump = %v, want %v", name, changed, want)
		}
	}
	// The node's OS disk is assembled with the runtime part (layers/node).
	if runtime["v1.31.2"] != runtime["v1.31.3"] {
		t.Error("a kubernetes.version bump changed the container runtime part of the layer")
	}
}
