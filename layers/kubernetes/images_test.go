package kubernetes

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"
	"github.com/strata-dev/strata/spec"
)

func withImages(images ...spec.Image) *spec.Kubernetes {
	k := testKubernetes()
	k.Images = images
	return k
}

// imageArts returns the image artifacts of k by name.
func imageArts(t *testing.T, k *spec.Kubernetes) map[string]Artifact {
	t.Helper()
	out := map[string]Artifact{}
	for _, a := range Artifacts(k) {
		if a.isImage() {
			out[a.Name] = a
		}
	}
	if len(out) != len(k.Images) {
		t.Fatalf("%d image artifacts for %d images", len(out), len(k.Images))
	}
	return out
}

func TestImageArtifacts(t *testing.T) {
	k := withImages(
		spec.Image{Name: "kube-proxy"},
		spec.Image{Name: "kube-apiserver", SHA256: hexA},
		spec.Image{Name: "kube-scheduler", URL: "https://internal.example/k8s/kube-scheduler.tar"},
		spec.Image{Name: "pause", URL: "http://images.example:8080/pause/pause-3.10.tar"},
		spec.Image{Name: "coredns", URL: "https://images.example/coredns.tar", SHA256: hexB},
	)
	arts := imageArts(t, k)
	tests := []struct {
		name, url, checksumURL, path, checksumPath, file, pinned, label string
	}{
		{"image kube-proxy", "https://dl.k8s.io/release/v1.31.2/bin/linux/amd64/kube-proxy.tar", "https://dl.k8s.io/release/v1.31.2/bin/linux/amd64/kube-proxy.tar.sha256",
			"release/v1.31.2/bin/linux/amd64/kube-proxy.tar", "release/v1.31.2/bin/linux/amd64/kube-proxy.tar.sha256", "kube-proxy.tar", "", "image kube-proxy v1.31.2"},
		{"image kube-apiserver", "https://dl.k8s.io/release/v1.31.2/bin/linux/amd64/kube-apiserver.tar", "",
			"release/v1.31.2/bin/linux/amd64/kube-apiserver.tar", "", "kube-apiserver.tar", hexA, "image kube-apiserver v1.31.2"},
		// A url override moves the download, not its place in a tree.
		{"image kube-scheduler", "https://internal.example/k8s/kube-scheduler.tar", "https://internal.example/k8s/kube-scheduler.tar.sha256",
			"release/v1.31.2/bin/linux/amd64/kube-scheduler.tar", "release/v1.31.2/bin/linux/amd64/kube-scheduler.tar.sha256", "kube-scheduler.tar", "", "image kube-scheduler v1.31.2"},
		{"image pause", "http://images.example:8080/pause/pause-3.10.tar", "http://images.example:8080/pause/pause-3.10.tar.sha256",
			"pause/pause-3.10.tar", "pause/pause-3.10.tar.sha256", "pause-3.10.tar", "", "image pause"},
		{"image coredns", "https://images.example/coredns.tar", "", "coredns.tar", "", "coredns.tar", hexB, "image coredns"},
	}
	for _, tt := range tests {
		a := arts[tt.name]
		got := []string{a.URL, a.ChecksumURL, a.Path, a.ChecksumPath, a.File, a.Pinned, a.Label()}
		want := []string{tt.url, tt.checksumURL, tt.path, tt.checksumPath, tt.file, tt.pinned, tt.label}
		if !slices.Equal(got, want) {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, want)
		}
	}
	if a := arts["image coredns"]; a.Field != "kubernetes.images[4]" || a.PinField != "kubernetes.images[4].sha256" {
		t.Errorf("coredns fields %q, %q", a.Field, a.PinField)
	}

	// kubernetes.source moves release images with the binaries; an image
	// with a url of its own stays where it is.
	k.Source = "http://127.0.0.1:8080/mirror/"
	arts = imageArts(t, k)
	if a := arts["image kube-proxy"]; a.URL != "http://127.0.0.1:8080/mirror/release/v1.31.2/bin/linux/amd64/kube-proxy.tar" {
		t.Errorf("kube-proxy through the mirror: %s", a.URL)
	}
	if a := arts["image pause"]; a.URL != "http://images.example:8080/pause/pause-3.10.tar" {
		t.Errorf("pause moved by the source: %s", a.URL)
	}
}

func TestBuildPlacesImages(t *testing.T) {
	k := withImages(spec.Image{Name: "kube-proxy"}, spec.Image{Name: "pause", URL: "https://images.example/pause.tar"})
	digests := map[string]digest.Digest{}
	for _, a := range Artifacts(k) {
		digests[a.Name] = digest.FromString(a.Name)
	}
	st, err := Build(Input{Kubernetes: k, Digests: digests, KubeletEnvFile: "/etc/default/kubelet"})
	if err != nil {
		t.Fatal(err)
	}
	ops, names := graphOps(t, st.Tree())
	sources := map[string]*pb.SourceOp{}
	copies := map[string]*pb.FileActionCopy{}
	written := map[string]*pb.FileActionMkFile{}
	links := map[string]string{}
	placeOps := 0
	for i, op := range ops {
		if src := op.GetSource(); src != nil {
			sources[src.Identifier] = src
		}
		for _, action := range op.GetFile().GetActions() {
			if cp := action.GetCopy(); cp != nil && strings.HasPrefix(cp.Dest, ImagesDir) {
				copies[cp.Dest] = cp
				if !strings.HasPrefix(names[i], "[kubernetes images] place kube-proxy pause in "+ImagesDir) {
					t.Errorf("image copy in vertex %q", names[i])
				}
				placeOps++
			}
			if mk := action.GetMkfile(); mk != nil {
				written[mk.Path] = mk
			}
			if ln := action.GetSymlink(); ln != nil {
				links[ln.Newpath] = ln.Oldpath
			}
		}
	}
	for url, name := range map[string]string{
		"https://dl.k8s.io/release/v1.31.2/bin/linux/amd64/kube-proxy.tar": "image kube-proxy",
		"https://images.example/pause.tar":                                 "image pause",
	} {
		src := sources[url]
		if src == nil {
			t.Errorf("no download of %s", url)
			continue
		}
		if got := src.Attrs[pb.AttrHTTPChecksum]; got != digest.FromString(name).String() {
			t.Errorf("%s: checksum %q, want the verified digest of %s", url, got, name)
		}
	}
	for _, name := range []string{"kube-proxy", "pause"} {
		cp := copies[ImagesDir+"/"+name+".tar"]
		if cp == nil || cp.Mode != 0o644 || cp.AttemptUnpackDockerCompatibility {
			t.Errorf("%s.tar: %+v (want a copy with mode 0644, not unpacked)", name, cp)
		}
	}
	if placeOps != 2 {
		t.Errorf("%d image copies, want 2", placeOps)
	}
	for _, p := range []string{importScript, "/usr/lib/systemd/system/" + ImportUnit, "/usr/lib/systemd/system/kubelet.service.d/20-strata-images.conf"} {
		if written[p] == nil {
			t.Errorf("%s not written", p)
		}
	}
	if mk := written[importScript]; mk != nil && mk.Mode != 0o755 {
		t.Errorf("import script mode %o", mk.Mode)
	}
	if got := links["/etc/systemd/system/multi-user.target.wants/"+ImportUnit]; got != "/usr/lib/systemd/system/"+ImportUnit {
		t.Errorf("import unit enabled as %q", got)
	}
	if !slices.ContainsFunc(names, func(n string) bool {
		return strings.HasSuffix(n, "enable containerd.service kubelet.service "+ImportUnit)
	}) {
		t.Errorf("no configure step enabling the import unit among %q", names)
	}

	// Without images: no image step, no unit.
	plain, err := Build(Input{Kubernetes: testKubernetes(), Digests: fakeDigests(), KubeletEnvFile: "/etc/default/kubelet"})
	if err != nil {
		t.Fatal(err)
	}
	_, plainNames := graphOps(t, plain.Tree())
	for _, n := range plainNames {
		if strings.Contains(n, "images") || strings.Contains(n, ImportUnit) {
			t.Errorf("a layer without images has the step %q", n)
		}
	}
}

func TestBuildImagesFromTree(t *testing.T) {
	k := withImages(spec.Image{Name: "kube-proxy"}, spec.Image{Name: "pause", URL: "https://images.example/pause/pause.tar"})
	digests := map[string]digest.Digest{}
	for _, a := range Artifacts(k) {
		digests[a.Name] = digest.FromString(a.Name)
	}
	tree := &Tree{Name: "context kubernetes-artifacts", State: llb.Local("artifacts")}
	st, err := Build(Input{Kubernetes: k, Digests: digests, Tree: tree, KubeletEnvFile: "/etc/default/kubelet"})
	if err != nil {
		t.Fatal(err)
	}
	ops, names := graphOps(t, st.Tree())
	want := map[string]string{ // source in the tree -> vertex name
		"/release/v1.31.2/bin/linux/amd64/kube-proxy.tar": "[kubernetes images] place image kube-proxy v1.31.2 from context kubernetes-artifacts:release/v1.31.2/bin/linux/amd64/kube-proxy.tar (" + short(digests["image kube-proxy"]) + ")",
		"/pause/pause.tar": "[kubernetes images] place image pause from context kubernetes-artifacts:pause/pause.tar (" + short(digests["image pause"]) + ")",
	}
	for i, op := range ops {
		if src := op.GetSource(); src != nil && src.Identifier != "local://artifacts" {
			t.Errorf("a tree build has the source %s", src.Identifier)
		}
		for _, action := range op.GetFile().GetActions() {
			cp := action.GetCopy()
			if cp == nil || !strings.HasPrefix(cp.Dest, ImagesDir) {
				continue
			}
			if names[i] != want[cp.Src] || cp.Mode != 0o644 || !cp.FollowSymlink {
				t.Errorf("copy of %s to %s (mode %o, through symlinks %v) in vertex %q", cp.Src, cp.Dest, cp.Mode, cp.FollowSymlink, names[i])
			}
			delete(want, cp.Src)
		}
	}
	if len(want) > 0 {
		t.Errorf("not copied from the tree: %v", want)
	}
}

// TestImportScript runs the generated script against a fake ctr that keeps
// its image list in a file, so the retag and the failure paths are tested
// as shell, not as text.
func TestImportScript(t *testing.T) {
	k := withImages(spec.Image{Name: "kube-proxy"}, spec.Image{Name: "kube-scheduler"}, spec.Image{Name: "pause", URL: "https://images.example/pause.tar"})
	tests := []struct {
		name    string
		tarTags map[string]string // tarball -> the names importing it adds
		fail    string
		want    []string // the image list afterwards
	}{
		{
			name: "upstream tags are retagged for kubeadm",
			tarTags: map[string]string{
				"kube-proxy.tar":     "registry.k8s.io/kube-proxy-amd64:v1.31.2",
				"kube-scheduler.tar": "registry.k8s.io/kube-scheduler-amd64:v1.31.2",
				"pause.tar":          "registry.k8s.io/pause:3.10",
			},
			want: []string{"registry.k8s.io/kube-proxy-amd64:v1.31.2", "registry.k8s.io/kube-proxy:v1.31.2",
				"registry.k8s.io/kube-scheduler-amd64:v1.31.2", "registry.k8s.io/kube-scheduler:v1.31.2", "registry.k8s.io/pause:3.10"},
		},
		{
			name: "a tarball that already has kubeadm's name needs no tag",
			tarTags: map[string]string{
				"kube-proxy.tar":     "registry.k8s.io/kube-proxy:v1.31.2",
				"kube-scheduler.tar": "registry.k8s.io/kube-scheduler-amd64:v1.31.2",
				"pause.tar":          "registry.k8s.io/pause:3.10",
			},
			want: []string{"registry.k8s.io/kube-proxy:v1.31.2",
				"registry.k8s.io/kube-scheduler-amd64:v1.31.2", "registry.k8s.io/kube-scheduler:v1.31.2", "registry.k8s.io/pause:3.10"},
		},
		{
			name: "a release tarball of another version fails",
			tarTags: map[string]string{
				"kube-proxy.tar":     "registry.k8s.io/kube-proxy-amd64:v1.30.0",
				"kube-scheduler.tar": "registry.k8s.io/kube-scheduler-amd64:v1.31.2",
				"pause.tar":          "registry.k8s.io/pause:3.10",
			},
			fail: "strata-import-images: " + ImagesDir + "/kube-proxy.tar holds neither registry.k8s.io/kube-proxy-amd64:v1.31.2 nor registry.k8s.io/kube-proxy:v1.31.2; kubeadm would pull registry.k8s.io/kube-proxy:v1.31.2",
		},
		{
			name: "a failed import stops the script",
			tarTags: map[string]string{
				"kube-proxy.tar":     "registry.k8s.io/kube-proxy-amd64:v1.31.2",
				"kube-scheduler.tar": "FAIL",
				"pause.tar":          "registry.k8s.io/pause:3.10",
			},
			fail: "strata-import-images: importing " + ImagesDir + "/kube-scheduler.tar failed",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, list, err := runImportScript(t, importScriptContent(k), tt.tarTags)
			if tt.fail != "" {
				if err == nil || !strings.Contains(out, tt.fail) {
					t.Fatalf("err = %v, want a failure saying %q:\n%s", err, tt.fail, out)
				}
				if strings.Contains(out, "pause.tar") {
					t.Errorf("the script went on after a failure:\n%s", out)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if !slices.Equal(list, tt.want) {
				t.Errorf("images %q\nwant %q", list, tt.want)
			}
			// Idempotent: a second run over the same store changes nothing.
			out2, again, err := runImportScriptOn(t, importScriptContent(k), tt.tarTags, list)
			if err != nil || !slices.Equal(again, tt.want) {
				t.Errorf("second run: %v, images %q\n%s", err, again, out2)
			}
		})
	}
}

func runImportScript(t *testing.T, script string, tarTags map[string]string) (string, []string, error) {
	return runImportScriptOn(t, script, tarTags, nil)
}

// runImportScriptOn runs script with ctr replaced by fake-ctr, the store
// starting with images, and the tarballs in a temporary images directory.
func runImportScriptOn(t *testing.T, script string, tarTags map[string]string, images []string) (string, []string, error) {
	t.Helper()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	imagesDir := filepath.Join(dir, "images")
	store := filepath.Join(dir, "store")
	if err := os.MkdirAll(imagesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for tar, tag := range tarTags {
		if err := os.WriteFile(filepath.Join(imagesDir, tar), []byte(tag+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var initial string
	for _, img := range images {
		initial += img + "\n"
	}
	if err := os.WriteFile(store, []byte(initial), 0o644); err != nil {
		t.Fatal(err)
	}
	// fake-ctr keeps the image names in STORE, one per line. Importing
	// adds the names a tarball lists (a tarball saying FAIL fails); tag
	// adds the target if the source exists.
	fake := filepath.Join(dir, "fake-ctr")
	fakeScript := `#!/bin/sh
store='` + store + `'
while [ "${1#-}" != "$1" ]; do shift 2; done  # --address X --namespace Y
case "$1 $2" in
"images ls") sort -u "$store" ;;
"images import") grep -qx FAIL "$3" && { echo "ctr: unrecognized image format" >&2; exit 1; }; cat "$3" >>"$store" ;;
"images tag") grep -qxF "$4" "$store" || exit 1; echo "$5" >>"$store"; echo "$5" ;;
*) echo "fake-ctr: unexpected $*" >&2; exit 2 ;;
esac
`
	if err := os.WriteFile(fake, []byte(fakeScript), 0o755); err != nil {
		t.Fatal(err)
	}
	for old, repl := range map[string]string{"/usr/local/bin/ctr": fake, "dir=" + ImagesDir + "\n": "dir=" + imagesDir + "\n"} {
		if strings.Count(script, old) != 1 {
			t.Fatalf("the script has %q %d times, want once:\n%s", old, strings.Count(script, old), script)
		}
		script = strings.Replace(script, old, repl, 1)
	}
	// Messages name the real directory, as on a node.
	cmd := exec.Command("sh", "-c", script+"\n", "import-images")
	outBytes, err := cmd.CombinedOutput()
	out := strings.ReplaceAll(string(outBytes), imagesDir, ImagesDir)
	data, readErr := os.ReadFile(store)
	if readErr != nil {
		t.Fatal(readErr)
	}
	var list []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if line != "" && !slices.Contains(list, line) {
			list = append(list, line)
		}
	}
	slices.Sort(list)
	return out, list, err
}

// TestVersionBumpWithImagesKeepsTheRuntime: the import script names the
// release's images, so it belongs with the release's part of the layer; in
// the runtime part it would make every version bump assemble the OS disk
// again.
func TestVersionBumpWithImagesKeepsTheRuntime(t *testing.T) {
	runtime := func(version string) digest.Digest {
		k := withImages(spec.Image{Name: "kube-proxy"}, spec.Image{Name: "pause", URL: "https://images.example/pause.tar"})
		def, err := buildAt(t, k, version).Runtime.Marshal(context.Background(), llb.LinuxAmd64)
		if err != nil {
			t.Fatal(err)
		}
		return digest.FromBytes(def.Def[len(def.Def)-1])
	}
	if runtime("v1.31.2") != runtime("v1.31.3") {
		t.Error("with images, a kubernetes.version bump changed the container runtime part of the layer")
	}
}
