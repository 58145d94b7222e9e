package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestBuildxSyntaxBuildArg is the design's main command, literally:
// `docker buildx build --build-arg BUILDKIT_SYNTAX=<frontend image>` builds
// the example disk with nothing but buildx and the pushed image, the disk
// assembled in the frontend's own image.
func TestBuildxSyntaxBuildArg(t *testing.T) {
	e := requireBuildx(t)
	out := filepath.Join(t.TempDir(), "out")
	log, err := e.docker("strata-a", "buildx", "build", "--progress", "plain",
		"--build-arg", "BUILDKIT_SYNTAX="+e.frontend,
		"-f", "examples/debian.yaml", "--build-context", "os-base="+env.base,
		"--target", "disk", "--output", "type=local,dest="+out, ".")
	if err != nil {
		t.Fatalf("docker buildx build: %v\n%s", err, tail(log, 60))
	}
	checkBuildxDisk(t, filepath.Join(out, "disk.raw"), 4<<30)
}

// TestBuildxSyntaxLine: a `# syntax=` first line selects the frontend
// without any build arg, and a build arg changes the result (the size).
func TestBuildxSyntaxLine(t *testing.T) {
	e := requireBuildx(t)
	example, err := os.ReadFile(filepath.Join(env.repo, "examples/debian.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	spec := filepath.Join(dir, "node.yaml")
	if err := os.WriteFile(spec, append([]byte("# syntax="+e.frontend+"\n"), example...), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	log, err := e.docker("strata-a", "buildx", "build", "--progress", "plain",
		"-f", spec, "--build-context", "os-base="+env.base, "--build-arg", "DISK_SIZE=3GiB",
		"--target", "disk", "--output", "type=local,dest="+out, ".")
	if err != nil {
		t.Fatalf("docker buildx build: %v\n%s", err, tail(log, 60))
	}
	checkBuildxDisk(t, filepath.Join(out, "disk.raw"), 3<<30)
}

// checkBuildxDisk checks the exported disk's size and partition table, then
// removes it: these disks are written without holes.
func checkBuildxDisk(t *testing.T, disk string, size int64) {
	t.Helper()
	defer os.Remove(disk)
	fi, err := os.Stat(disk)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != size {
		t.Errorf("disk.raw is %d bytes, want %d", fi.Size(), size)
	}
	if table := sfdisk(t, disk); len(table.Partitions) != 2 {
		t.Errorf("disk has %d partitions, want ESP and root", len(table.Partitions))
	}
}

// TestBuildxNamedContextsAndArgs: --build-context kubernetes-artifacts=DIR
// reaches the frontend's named context (the build is air-gapped: its source
// is dead), and the documented build args change the result.
func TestBuildxNamedContextsAndArgs(t *testing.T) {
	e := requireBuildx(t)
	r, err := k8sRelease()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "kubernetes")
	sandbox := "registry.example.test/pause:buildx-e2e"
	log, err := e.docker("strata-a", append([]string{"buildx", "build", "--progress", "plain",
		"--build-arg", "BUILDKIT_SYNTAX=" + e.frontend, "-f", k8sSpec, "--target", "kubernetes",
		"--build-arg", "KUBERNETES_SANDBOX_IMAGE=" + sandbox,
		"--output", "type=local,dest=" + out, "."}, airgapArgs(r, r.Dir)...)...)
	if err != nil {
		t.Fatalf("docker buildx build: %v\n%s", err, tail(log, 60))
	}
	for file, want := range map[string]string{
		"etc/kubernetes-version":     r.Kubernetes + "\n",
		"etc/containerd/config.toml": sandbox,
	} {
		data, err := os.ReadFile(filepath.Join(out, file))
		if err != nil || !strings.Contains(string(data), want) {
			t.Errorf("%s: %v; want %q in\n%s", file, err, want, data)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "usr/bin/kubelet")); err != nil {
		t.Errorf("the layer lacks kubelet: %v", err)
	}
	if !strings.Contains(log, "from context kubernetes-artifacts:") {
		t.Errorf("the artifacts did not come from the named context:\n%s", tail(log, 60))
	}

	// KUBERNETES_VERSION picks the other release in the same tree.
	prev := filepath.Join(t.TempDir(), "kubernetes-previous")
	log, err = e.docker("strata-a", append(append([]string{"buildx", "build", "--progress", "plain",
		"--build-arg", "BUILDKIT_SYNTAX=" + e.frontend, "-f", k8sSpec, "--target", "kubernetes",
		"--output", "type=local,dest=" + prev}, airgapArgs(r, r.Dir)...),
		"--build-arg", "KUBERNETES_VERSION="+r.PreviousKubernetes, ".")...)
	if err != nil {
		t.Fatalf("docker buildx build at %s: %v\n%s", r.PreviousKubernetes, err, tail(log, 60))
	}
	if data, err := os.ReadFile(filepath.Join(prev, "etc/kubernetes-version")); err != nil || string(data) != r.PreviousKubernetes+"\n" {
		t.Errorf("KUBERNETES_VERSION=%s built %q (%v)", r.PreviousKubernetes, data, err)
	}
}

// TestBuildxCall: --call targets and --call outline answer from the
// frontend; outline gives each build arg's value and YAML line.
func TestBuildxCall(t *testing.T) {
	e := requireBuildx(t)
	call := func(what string) string {
		t.Helper()
		log, err := e.docker("strata-a", "buildx", "build", "--call", what,
			"--build-arg", "BUILDKIT_SYNTAX="+e.frontend, "-f", "examples/debian.yaml", ".")
		if err != nil {
			t.Fatalf("--call %s: %v\n%s", what, err, tail(log, 40))
		}
		return log
	}
	targets := call("targets")
	for _, want := range []string{"disk (default)", "kubernetes-sysext", "rootfs", "os", "aws", "vsphere"} {
		if !strings.Contains(targets, want) {
			t.Errorf("--call targets lacks %q:\n%s", want, targets)
		}
	}

	var outline struct {
		Args []struct {
			Name     string `json:"name"`
			Value    string `json:"value"`
			Location *struct {
				Ranges []struct {
					Start struct {
						Line int `json:"line"`
					} `json:"start"`
				} `json:"ranges"`
			} `json:"location"`
		} `json:"args"`
	}
	raw := call("outline,format=json")
	if err := json.Unmarshal([]byte(raw[strings.Index(raw, "{"):]), &outline); err != nil {
		t.Fatalf("outline JSON: %v\n%s", err, raw)
	}
	example, err := os.ReadFile(filepath.Join(env.repo, "examples/debian.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	sizeLine := 1 + strings.Count(string(example[:strings.Index(string(example), "  size:")]), "\n")
	found := false
	for _, a := range outline.Args {
		if a.Name != "DISK_SIZE" {
			continue
		}
		found = true
		if a.Value != "4GiB" {
			t.Errorf("DISK_SIZE value %q, want 4GiB", a.Value)
		}
		if a.Location == nil || len(a.Location.Ranges) == 0 || a.Location.Ranges[0].Start.Line != sizeLine {
			t.Errorf("DISK_SIZE location %+v, want line %d", a.Location, sizeLine)
		}
	}
	if !found {
		t.Errorf("outline lacks DISK_SIZE:\n%s", raw)
	}
	if text := call("outline"); !strings.Contains(text, "KUBERNETES_VERSION") {
		t.Errorf("--call outline lacks KUBERNETES_VERSION:\n%s", text)
	}
}

// TestBuildxSpecErrorShowsLine: a spec error reaches buildx's output with
// the YAML line, and nothing is exported.
func TestBuildxSpecErrorShowsLine(t *testing.T) {
	e := requireBuildx(t)
	dir := t.TempDir()
	spec := filepath.Join(dir, "node.yaml")
	if err := os.WriteFile(spec, []byte("apiVersion: strata.dev/v1alpha1\nkind: NodeImage\nname: typo\nos:\n  distro: debian\n  pakages: [curl]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	log, err := e.docker("strata-a", "buildx", "build", "--progress", "plain", "--build-arg", "BUILDKIT_SYNTAX="+e.frontend,
		"-f", spec, "--output", "type=local,dest="+out, ".")
	if err == nil {
		t.Fatalf("a spec with an unknown field built:\n%s", log)
	}
	for _, want := range []string{`node.yaml:6:3: os.pakages: unknown field "pakages" in os`, `>>>   pakages: [curl]`} {
		if !strings.Contains(log, want) {
			t.Errorf("buildx output lacks %q:\n%s", want, tail(log, 40))
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a failed build exported %s", out)
	}
}

// TestBuildxRegistryCacheAcrossBuilders is how users scale past one
// machine: builder A exports the whole graph to a registry cache, and a
// second, empty builder B that imports it re-runs no OS or Kubernetes step,
// read from B's own solve status.
func TestBuildxRegistryCacheAcrossBuilders(t *testing.T) {
	e := requireBuildx(t)
	r, srv := requireRelease(t)
	if err := e.builderB(); err != nil {
		t.Fatal(err)
	}
	ref := e.registry + "/cache:k8s-node"
	build := func(builder string, cache ...string) map[string]bool {
		t.Helper()
		args := append([]string{"buildx", "build", "--progress", "rawjson",
			"--build-arg", "BUILDKIT_SYNTAX=" + e.frontend, "-f", k8sSpec, "--target", "disk",
			"--build-context", "os-base=" + env.base, "--output", "type=cacheonly"}, cache...)
		args = append(append(args, versionArgs(r, srv.URL())...), ".")
		log, err := e.docker(builder, args...)
		if err != nil {
			t.Fatalf("%s: %v\n%s", builder, err, tail(log, 40))
		}
		return vertexCache(log)
	}
	a := build("strata-a", "--cache-to", "type=registry,ref="+ref+",mode=max")
	if len(a) == 0 {
		t.Fatal("no solve status from builder A")
	}
	b := build("strata-b", "--cache-from", "type=registry,ref="+ref)
	assertAllCached(t, b, "[os ")
	assertAllCached(t, b, "[kubernetes ")
	assertAllCached(t, b, "[overlay ")
	// The merges the disk is made from: the OS with the container
	// runtime, and the layers added on top of that disk.
	assertAllCached(t, b, "[disk os] merge")
	assertAllCached(t, b, "[disk] merge")
	// Every other step is accounted for: what re-runs on B is exactly what
	// docs/ci.md says re-runs (root vertices, whose results BuildKit never
	// exports, and the disk's assembly and what reads its disk). Anything
	// else that ran on B, or a listed step that came from the cache, fails:
	// the docs would be wrong either way.
	reruns := []string{"[root] ", "[disk os] assemble ", "[disk] add ", "[disk] validate "}
	for name, cached := range b {
		listed := slices.ContainsFunc(reruns, func(p string) bool { return strings.HasPrefix(name, p) })
		switch {
		case !cached && !listed && !strings.HasPrefix(name, "[internal]") && !isSourceStep(name):
			t.Errorf("builder B ran %q; it should have come from the imported cache", name)
		case cached && listed && strings.Contains(name, "assemble"):
			t.Errorf("builder B took %q from the imported cache: docs/ci.md says it re-runs; update it and this test", name)
		}
	}
	if _, ok := b["[disk os] assemble disk.raw (4GiB, uefi)"]; !ok {
		t.Errorf("no assembly in builder B's solve status: %v", b)
	}
}

// isSourceStep: loading a named context, resolving an image, importing
// the cache manifest and the downloads (a source's vertex, pinned by its
// checksum, and the checksum files the frontend reads) are no build
// steps: BuildKit reports them as run on every solve, while what is made
// from them comes from the cache.
func isSourceStep(name string) bool {
	for _, p := range []string{"[context ", "load build definition", "load metadata", "resolve image config", "importing cache manifest",
		"[kubernetes] fetch ", "docker-image://", "oci-layout://", "local://", "https://", "http://"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// TestBakeMatrix runs the shipped docker-bake.hcl: the matrix expands from
// its variables, and one run builds the frontend from the Dockerfile and a
// node image with it (through the target: named context). The node is
// the shipped spec as it is, with only what this machine cannot reach
// replaced: the base image (Docker Hub) by the os-base context, and the
// release downloads by the fixture's source and versions.
func TestBakeMatrix(t *testing.T) {
	e := requireBuildx(t)
	r, srv := requireRelease(t)

	printed, err := e.dockerEnv("strata-a", []string{"KUBERNETES_VERSIONS=v1.36.3,v1.35.8", "OUTPUTS=disk,rootfs"},
		"buildx", "bake", "--print", "node")
	if err != nil {
		t.Fatalf("bake --print: %v\n%s", err, printed)
	}
	var def struct {
		Target map[string]struct {
			Args       map[string]string `json:"args"`
			Target     string            `json:"target"`
			Dockerfile string            `json:"dockerfile"`
		} `json:"target"`
	}
	if err := json.Unmarshal([]byte(printed[strings.Index(printed, "{"):]), &def); err != nil {
		t.Fatalf("bake --print: %v\n%s", err, printed)
	}
	for _, node := range []string{"debian-12", "debian-13"} {
		for _, name := range []string{"v1-36-3-disk", "v1-36-3-rootfs", "v1-35-8-disk", "v1-35-8-rootfs"} {
			if _, ok := def.Target["node-"+node+"-"+name]; !ok {
				t.Errorf("the matrix lacks node-%s-%s; it has %v", node, name, def.Target)
			}
		}
	}
	if got := def.Target["node-debian-12-v1-35-8-rootfs"]; got.Args["KUBERNETES_VERSION"] != "v1.35.8" || got.Target != "rootfs" ||
		got.Dockerfile != "examples/kubernetes-node.yaml" {
		t.Errorf("node-debian-12-v1-35-8-rootfs: %+v", got)
	}
	if got := def.Target["node-debian-13-v1-36-3-disk"]; got.Dockerfile != "examples/kubernetes-node-debian-13.yaml" {
		t.Errorf("node-debian-13-v1-36-3-disk: %+v", got)
	}
	trixie, err := trixieBase()
	if err != nil {
		t.Fatal(err)
	}

	// The Dockerfile's bases come from named contexts here (no registry is
	// reachable); users get them from Docker Hub.
	override := filepath.Join(t.TempDir(), "e2e.hcl")
	if err := os.WriteFile(override, []byte(`target "frontend-local" {
  contexts = {
    "golang:1.26.8-bookworm" = "`+e.goImage+`"
    "debian:12.11-slim"      = "`+env.base+`"
  }
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"buildx", "bake", "--progress", "plain", "-f", "docker-bake.hcl", "-f", override,
		"--set", "node-debian-12-*.contexts.os-base=" + env.base, "--set", "node-debian-13-*.contexts.os-base=" + trixie,
		"--set", "node-*.output=type=cacheonly"}
	fixture := versionArgs(r, srv.URL())
	for i := 0; i+1 < len(fixture); i += 2 {
		if fixture[i] == "--build-arg" && !strings.HasPrefix(fixture[i+1], "KUBERNETES_VERSION=") {
			args = append(args, "--set", "node-*.args."+fixture[i+1])
		}
	}
	log, err := e.dockerEnv("strata-a", []string{"KUBERNETES_VERSIONS=" + r.Kubernetes}, append(args, "node")...)
	if err != nil {
		t.Fatalf("bake: %v\n%s", err, tail(log, 60))
	}
	// The frontend's go build (cached or not) and each node's assembly, in
	// one run.
	k8s := strings.ReplaceAll(r.Kubernetes, ".", "-")
	for _, want := range []string{"/out/strata ./cmd/strata", "[node-debian-12-" + k8s + "-disk disk os] assemble disk.raw",
		"[node-debian-13-" + k8s + "-disk disk os] assemble disk.raw"} {
		if !strings.Contains(log, want) {
			t.Errorf("bake output lacks %q:\n%s", want, tail(log, 60))
		}
	}
}

// TestBuildxBadInputs: what users get wrong fails with a message that
// says what, a non-zero exit, and nothing exported.
func TestBuildxBadInputs(t *testing.T) {
	e := requireBuildx(t)
	notStrata := e.registry + "/not-strata:test"
	dockerfile := filepath.Join(t.TempDir(), "Dockerfile")
	if err := os.WriteFile(dockerfile, []byte("FROM debian:12.11-slim\nENTRYPOINT [\"/bin/false\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if log, err := e.docker("strata-a", "buildx", "build", "-f", dockerfile, "--build-context", "debian:12.11-slim="+env.base,
		"--tag", notStrata, "--push", filepath.Dir(dockerfile)); err != nil {
		t.Fatalf("pushing a frontend that is not strata: %v\n%s", err, tail(log, 20))
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"frontend that is not strata", []string{"--build-arg", "BUILDKIT_SYNTAX=" + notStrata}, "frontend"},
		{"missing named context", []string{"--build-arg", "BUILDKIT_SYNTAX=" + e.frontend,
			"--build-context", "kubernetes-artifacts=/nonexistent/strata-artifacts"}, "/nonexistent/strata-artifacts"},
		{"undeclared build arg", []string{"--build-arg", "BUILDKIT_SYNTAX=" + e.frontend, "--build-arg", "NO_SUCH_ARG=1"},
			`build arg "NO_SUCH_ARG" is not declared by debian.yaml`},
		{"unknown subrequest", []string{"--build-arg", "BUILDKIT_SYNTAX=" + e.frontend, "--call", "frobnicate"}, "frobnicate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			args := append([]string{"buildx", "build", "--progress", "plain", "-f", "examples/debian.yaml",
				"--build-context", "os-base=" + env.base, "--output", "type=local,dest=" + out}, tc.args...)
			log, err := e.docker("strata-a", append(args, ".")...)
			if err == nil {
				t.Fatalf("the build succeeded:\n%s", tail(log, 20))
			}
			if !strings.Contains(log, tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, tail(log, 20))
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a failed build exported %s", out)
			}
		})
	}
}
