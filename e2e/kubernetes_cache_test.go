package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/strata-dev/strata/e2e/releaseserver"
)

// TestKubernetesCacheIndependence proves the design's caching rule from
// BuildKit's own solve status and the mirror's request log, for a real
// version bump and for an OS change:
//
//   - bumping kubernetes.version alone, from the fixture's previous release
//     to its current one, re-runs no OS step, fetches and installs kubelet,
//     kubeadm and kubectl anew, and fetches containerd, runc, crictl and the
//     CNI plugins not again;
//   - then changing the OS alone re-runs no Kubernetes step and fetches no
//     artifact.
//
// It runs on a buildkitd of its own, started empty: on the shared one, both
// releases' downloads are in the cache from earlier runs, and "this step
// ran" could not be asked for.
//
// A download's vertex reads "completed, not cached" both when it fetched
// and when BuildKit only computed its cache key (from the digest, without
// a request) and then needed no result from it, because the step using it
// came from cache. So for downloads the mirror's log tells what was
// fetched, and each artifact's install step, which the status does report
// faithfully, tells whether it was placed again.
func TestKubernetesCacheIndependence(t *testing.T) {
	r, _ := requireRelease(t)
	addr := freshBuildkitd(t)
	srv, err := releaseserver.Start(r.Dir, releaseserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	build := func(what, specPath string, rel *release) map[string]bool {
		t.Helper()
		out := filepath.Join(t.TempDir(), "out")
		args := append(versionArgs(rel, srv.URL()), "--progress", "rawjson")
		log, err := strataBuildAt(addr, specPath, "disk", out, true, args...)
		if err != nil {
			t.Fatalf("%s: %v\n%s", what, err, tail(log, 60))
		}
		t.Log(lastLine(log))
		// The disks are 4 GiB each; the status is what the test needs.
		os.RemoveAll(out)
		return vertexCache(log)
	}
	kubeBinaries := []string{"kubelet", "kubeadm", "kubectl"}
	others := []string{"containerd", "runc", "crictl", "cni"}
	// The artifacts' paths on the mirror, at either release.
	paths := func(rel *release) (kube, other []string) {
		p := releaseserver.Release{Kubernetes: rel.Kubernetes, Containerd: rel.Containerd, Runc: rel.Runc, Crictl: rel.Crictl, CNI: rel.CNI}
		for _, name := range kubeBinaries {
			kube = append(kube, p.KubeBinary(name))
		}
		return kube, []string{p.ContainerdTarball(), p.RuncBinary(), p.CrictlTarball(), p.CNITarball()}
	}

	// Cold, at the previous release: every step runs and every artifact
	// is fetched, which shows the daemon's cache really was empty.
	prev := r.previous()
	srv.ResetLog()
	status := build("the cold build", k8sSpec, prev)
	assertRan(t, status, "[os ", "")
	for _, name := range append(slices.Clone(kubeBinaries), others...) {
		assertRan(t, status, install(name), "")
	}
	kube, other := paths(prev)
	if got, want := artifactRequests(srv), append(kube, other...); !slices.Equal(sorted(got), sorted(want)) {
		t.Errorf("the cold build fetched %q, want exactly %q", got, want)
	}

	// Only kubernetes.version changes.
	srv.ResetLog()
	status = build("the kubernetes.version bump", k8sSpec, r)
	assertAllCached(t, status, "[os ")
	assertAllCached(t, status, "[overlay ")
	for _, name := range kubeBinaries {
		assertRan(t, status, "[kubernetes] fetch "+name+" "+r.Kubernetes+" ", "")
		assertRan(t, status, install(name)+r.Kubernetes, "")
	}
	// Each artifact has an install step of its own: the unchanged ones
	// come from cache, tarballs not unpacked again.
	for _, name := range others {
		assertAllCached(t, status, install(name))
	}
	// The units are written apart from the binaries and do not change
	// with the versions.
	assertAllCached(t, status, "[kubernetes 2/3] add units for ")
	// The disk is the cached OS disk (the OS and the container runtime)
	// with the rest of the layer added.
	assertAllCached(t, status, "[disk os] ")
	assertRan(t, status, "[disk] add kubernetes", "")
	kube, _ = paths(r)
	if got, want := artifactRequests(srv), kube; !slices.Equal(sorted(got), sorted(want)) {
		t.Errorf("the kubernetes.version bump fetched %q, want exactly %q", got, want)
	}

	// Only the OS changes: a run step added.
	osChanged := filepath.Join(t.TempDir(), "k8s-node.yaml")
	spec, err := os.ReadFile(filepath.Join(env.repo, k8sSpec))
	if err != nil {
		t.Fatal(err)
	}
	const anchor = "  distro: debian\n"
	if !strings.Contains(string(spec), anchor) {
		t.Fatalf("%s lacks %q", k8sSpec, anchor)
	}
	spec = []byte(strings.Replace(string(spec), anchor, anchor+"  run: [\"echo os-change > /etc/strata-e2e-os-change\"]\n", 1))
	if err := os.WriteFile(osChanged, spec, 0o644); err != nil {
		t.Fatal(err)
	}
	srv.ResetLog()
	status = build("the OS change", osChanged, r)
	assertRan(t, status, "[os ", "run: echo os-change")
	assertRan(t, status, "[disk os] assemble", "")
	// Every layer step comes from cache, so BuildKit needs no download.
	assertAllCached(t, status, "[kubernetes ")
	if got := artifactRequests(srv); len(got) != 0 {
		t.Errorf("an OS change fetched %q", got)
	}
}

// install is the name prefix of an artifact's install step.
func install(name string) string { return "[kubernetes 1/3] install " + name + " " }

// artifactRequests lists the artifacts the server sent since its log was
// last reset. Checksum files are left out: the frontend reads them on
// every build to learn the digests, and BuildKit revalidates them.
func artifactRequests(srv *releaseserver.Server) []string {
	var out []string
	for _, p := range srv.Requests() {
		if !strings.HasSuffix(p, ".sha256") && !strings.HasSuffix(p, ".sha256sum") {
			out = append(out, p)
		}
	}
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// assertAllCached fails for every vertex whose name starts with prefix and
// that ran; at least one such vertex must exist.
func assertAllCached(t *testing.T, status map[string]bool, prefix string) {
	t.Helper()
	seen := 0
	for name, cached := range status {
		if strings.HasPrefix(name, prefix) {
			seen++
			if !cached {
				t.Errorf("vertex %q ran; it should have come from cache", name)
			}
		}
	}
	if seen == 0 {
		t.Errorf("no %q vertex in the solve status", prefix)
	}
}

// assertRan fails unless a vertex whose name starts with prefix and
// contains part ran (was not cached).
func assertRan(t *testing.T, status map[string]bool, prefix, part string) {
	t.Helper()
	for name, cached := range status {
		if strings.HasPrefix(name, prefix) && strings.Contains(name, part) && !cached {
			return
		}
	}
	t.Errorf("no %q vertex containing %q ran; status: %v", prefix, part, status)
}
