package e2e

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/strata-dev/strata/e2e/ocilayout"
	"github.com/strata-dev/strata/e2e/releaseserver"
)

// TestCredentialsPrivateRegistry: strata build logs in to registries the
// way buildx does, from the docker CLI's config. An os.base in a registry
// that wants a login fails to resolve without one and builds with one,
// and --cache-to pushes to such a registry only with the login.
func TestCredentialsPrivateRegistry(t *testing.T) {
	requireE2E(t)
	user, pass := "builder", randomToken(t)
	registry := startAuthRegistry(t, user, pass)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// A repository of its own each run: buildkitd takes a digest-pinned
	// image from its content store without asking the registry when it
	// pulled it from the same host and repository before, and it compares
	// hosts without their ports.
	base, err := pushLayout(ctx, env.base, registry+"/strata-e2e/base-"+randomToken(t)[:12], user, pass)
	if err != nil {
		t.Fatal(err)
	}
	noLogin, login := t.TempDir(), dockerConfig(t, registry, user, pass)
	privateBase := []string{"--build-arg", "OS_BASE=" + base}
	cache := registry + "/strata-e2e/cache"

	t.Setenv("DOCKER_CONFIG", noLogin)
	log, err := strataBuildWith("examples/debian.yaml", "os", "", false, privateBase...)
	if err == nil {
		t.Fatalf("a private os.base resolved without a login:\n%s", tail(log, 30))
	}
	for _, want := range []string{base, "401 Unauthorized", "docker login " + registry} {
		if !strings.Contains(log, want) {
			t.Errorf("the failure without a login lacks %q:\n%s", want, tail(log, 30))
		}
	}
	t.Logf("the pull without a login: %s", failure(log))
	log, err = strataBuild("examples/debian.yaml", "os", "", "--cache-to", "type=registry,ref="+cache)
	if err == nil {
		t.Fatalf("--cache-to pushed to a private registry without a login:\n%s", tail(log, 30))
	}
	if !strings.Contains(log, "401 Unauthorized") && !strings.Contains(log, "unauthorized") {
		t.Errorf("the failed cache export does not say it was refused:\n%s", tail(log, 30))
	}
	t.Logf("the cache export without a login: %s", failure(log))

	t.Setenv("DOCKER_CONFIG", login)
	start := time.Now()
	log, err = strataBuildWith("examples/debian.yaml", "os", "", false,
		append(privateBase, "--cache-to", "type=registry,ref="+cache+",mode=max")...)
	if err != nil {
		t.Fatalf("building on a private os.base with a login: %v\n%s", err, tail(log, 60))
	}
	t.Logf("the build on the private base with --cache-to took %s", time.Since(start).Round(time.Second))
	if got := manifestStatus(t, registry, "strata-e2e/cache", "latest", user, pass); got != http.StatusOK {
		t.Errorf("the registry has no cache manifest after --cache-to (HEAD: %d)", got)
	}
	if got := manifestStatus(t, registry, "strata-e2e/cache", "latest", "", ""); got != http.StatusUnauthorized {
		t.Errorf("the registry answers %d without a login; the test's premise is a registry that wants one", got)
	}
	log, err = strataBuildWith("examples/debian.yaml", "os", "", false, append(privateBase, "--cache-from", "type=registry,ref="+cache)...)
	if err != nil {
		t.Fatalf("--cache-from the private registry with a login: %v\n%s", err, tail(log, 60))
	}
	if !strings.Contains(log, "importing cache manifest from "+cache) {
		t.Errorf("the build did not import the cache from %s:\n%s", cache, tail(log, 40))
	}
}

// TestCredentialsKubernetesMirror: kubernetes.sourceSecret sends a
// secret's value as the Authorization header to a mirror that wants it,
// for the binaries and for their checksum files. Without the secret the
// build stops, naming it; with a wrong one it says the mirror refused it;
// with the right one the node builds, and the value is in no file of the
// disk (strata inspect --secret-value-file) and nowhere in the rootfs tar.
func TestCredentialsKubernetesMirror(t *testing.T) {
	r, _ := requireRelease(t)
	token := "Bearer " + randomToken(t)
	srv, err := releaseserver.Start(r.Dir, releaseserver.Options{Authorization: token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	dir := t.TempDir()
	good := writeSecretFile(t, dir, "token", token)
	wrong := writeSecretFile(t, dir, "wrong", "Bearer "+randomToken(t))
	// Clipped: each build below appends its own flags to it.
	args := slices.Clip(append(versionArgs(r, srv.URL()), "--build-arg", "KUBERNETES_SOURCE_SECRET=k8s-mirror"))

	log, err := strataBuild(k8sSpec, "kubernetes", "", args...)
	if err == nil {
		t.Fatalf("a build without the secret got past a mirror that wants it:\n%s", tail(log, 30))
	}
	for _, want := range []string{"kubernetes.sourceSecret", `not given the secret "k8s-mirror"`, "--secret id=k8s-mirror"} {
		if !strings.Contains(log, want) {
			t.Errorf("the failure without the secret lacks %q:\n%s", want, tail(log, 30))
		}
	}
	t.Logf("without the secret: %s", failure(log))
	log, err = strataBuild(k8sSpec, "kubernetes", "", append(args, "--secret", "id=k8s-mirror,src="+wrong)...)
	if err == nil {
		t.Fatalf("a wrong token got past the mirror:\n%s", tail(log, 30))
	}
	if !strings.Contains(log, `the mirror refused the Authorization header from the secret "k8s-mirror"`) {
		t.Errorf("the failure with a wrong token does not say the mirror refused it:\n%s", tail(log, 30))
	}
	t.Logf("with a wrong token: %s", failure(log))
	for _, req := range srv.Log() {
		if req.Status != http.StatusUnauthorized {
			t.Errorf("without the right token the mirror answered %s %s with %d", req.Method, req.Path, req.Status)
		}
	}

	srv.ResetLog()
	t.Setenv("STRATA_E2E_MIRROR_AUTH", token)
	withSecret := append(args, "--secret", "id=k8s-mirror,env=STRATA_E2E_MIRROR_AUTH")
	out := filepath.Join(dir, "disk")
	start := time.Now()
	if log, err := strataBuild(k8sSpec, "disk", out, withSecret...); err != nil {
		t.Fatalf("building with the secret: %v\n%s", err, tail(log, 80))
	}
	t.Logf("the node's disk with the secret took %s", time.Since(start).Round(time.Second))
	served := 0
	for _, req := range srv.Log() {
		if req.Status == http.StatusUnauthorized {
			t.Errorf("with the secret the mirror still refused %s %s", req.Method, req.Path)
		}
		if strings.HasSuffix(req.Path, ".sha256") || strings.HasSuffix(req.Path, ".sha256sum") {
			served++
		}
	}
	if served == 0 {
		t.Errorf("the build fetched no checksum file from the mirror: %+v", srv.Log())
	}
	// Downloads already cached by their checksum and the secret's ID are
	// not fetched again; the checksum files always are.
	downloads := 0
	for _, p := range srv.Requests() {
		if !strings.HasSuffix(p, ".sha256") && !strings.HasSuffix(p, ".sha256sum") {
			downloads++
		}
	}
	t.Logf("the mirror answered %d requests with the token: %d for checksum files, %d artifacts sent", len(srv.Log()), served, downloads)

	// The positive control: a line of the spec's own node-check script is
	// in the image, so a scan that finds nothing has looked.
	control := writeSecretFile(t, dir, "control", "node-check kubelet-version")
	disk := filepath.Join(out, "disk.raw")
	inspected, err := run(10*time.Minute, env.repo, env.strata, "inspect", "--secret-value-file", good, disk)
	if err != nil || !regexp.MustCompile(`(?m)^PASS\s+secrets\s+hygiene\s+\d+ files .*scanned for 1 secret`).MatchString(inspected) {
		t.Errorf("strata inspect --secret-value-file with the token: %v\n%s", err, inspected)
	}
	if inspected, err := run(10*time.Minute, env.repo, env.strata, "inspect", "--secret-value-file", control, disk); err == nil ||
		!regexp.MustCompile(`(?m)^FAIL\s+secrets\s+hygiene\s+.*/usr/local/bin/strata-node-check holds control`).MatchString(inspected) {
		t.Errorf("the secret scan did not find the control string in the disk: %v\n%s", err, inspected)
	}

	rootfs := filepath.Join(dir, "rootfs.tar")
	if log, err := strataBuild(k8sSpec, "rootfs", "type=tar,dest="+rootfs, withSecret...); err != nil {
		t.Fatalf("the rootfs target with the secret: %v\n%s", err, tail(log, 60))
	}
	if tarBytesContain(t, rootfs, []byte(strings.TrimPrefix(token, "Bearer "))) {
		holders, _ := tarFind(t, rootfs, []byte(strings.TrimPrefix(token, "Bearer ")), "")
		t.Errorf("the token is in the rootfs tar (files: %v)", holders)
	}
	if !tarBytesContain(t, rootfs, []byte("node-check kubelet-version")) {
		t.Error("the rootfs tar lacks the control string; the scan proves nothing")
	}
	if err := os.Remove(rootfs); err != nil {
		t.Error(err)
	}
}

// TestCredentialsAptMirror: os.packageSecret mounts apt_auth.conf lines
// into the package installs, for a base whose apt sources point at a
// mirror that wants HTTP basic authentication (the host's own mirrors,
// behind a loopback proxy the test runs; build steps use the host's
// network). Without the secret the build stops naming it, with a wrong
// password apt gets the mirror's 401; with it the OS layer builds through
// the mirror, and neither the password nor the auth
// file is in the os target's tar.
func TestCredentialsAptMirror(t *testing.T) {
	requireE2E(t)
	sources, err := aptSources(env.base)
	if err != nil {
		t.Fatal(err)
	}
	user, pass := "apt", randomToken(t)
	var hosts []string
	rewritten := map[string][]byte{}
	mirror := startAuthMirror(t, user, pass)
	for path, data := range sources {
		var named []string
		rewritten[path], named = rewriteSources(data, mirror.url)
		hosts = append(hosts, named...)
	}
	if len(hosts) == 0 {
		t.Skipf("the base's apt sources name no http:// mirror to put behind the proxy: %v", sources)
	}
	mirror.allow(hosts...)
	dir := t.TempDir()
	desc, err := ocilayoutAddFiles(filepath.Join(dir, "base"), rewritten)
	if err != nil {
		t.Fatal(err)
	}
	base := "oci-layout://" + filepath.Join(dir, "base") + "@" + desc
	specPath := filepath.Join(dir, "node.yaml")
	if err := os.WriteFile(specPath, []byte(`apiVersion: strata.dev/v1alpha1
kind: NodeImage
name: e2e-apt-mirror
os:
  distro: debian
  packageSecret: apt-mirror
disk:
  size: 2GiB
`), 0o644); err != nil {
		t.Fatal(err)
	}
	// apt sends credentials over plain http only to a machine written
	// with its scheme.
	authConf := writeSecretFile(t, dir, "auth.conf", "machine "+mirror.url+" login "+user+" password "+pass+"\n")
	withBase := []string{"--build-context", "os-base=" + base}

	log, err := strataBuildWith(specPath, "os", "", false, withBase...)
	if err == nil {
		t.Fatalf("the OS layer built without the secret os.packageSecret names:\n%s", tail(log, 30))
	}
	for _, want := range []string{"secret apt-mirror: not found", "--secret id=apt-mirror,src=FILE"} {
		if !strings.Contains(log, want) {
			t.Errorf("the failure without the secret lacks %q:\n%s", want, tail(log, 30))
		}
	}
	t.Logf("without the secret: %s", failure(log))
	// The secret's content is what opens the mirror, not its presence.
	wrong := writeSecretFile(t, dir, "wrong.conf", "machine "+mirror.url+" login "+user+" password "+randomToken(t)+"\n")
	log, err = strataBuildWith(specPath, "os", "", false, append(withBase, "--secret", "id=apt-mirror,src="+wrong)...)
	if err == nil {
		t.Fatalf("the OS layer built with a wrong password:\n%s", tail(log, 30))
	}
	if !strings.Contains(log, "401  Unauthorized") {
		t.Errorf("apt's failure with a wrong password does not show the mirror's 401:\n%s", tail(log, 30))
	}
	if served, denied := mirror.counts(); served != 0 || denied == 0 {
		t.Errorf("with a wrong password the mirror served %d requests and refused %d", served, denied)
	}

	osTar := filepath.Join(dir, "os.tar")
	start := time.Now()
	log, err = strataBuildWith(specPath, "os", "type=tar,dest="+osTar, false,
		append(withBase, "--secret", "id=apt-mirror,src="+authConf)...)
	if err != nil {
		t.Fatalf("the OS layer with the secret: %v\n%s", err, tail(log, 60))
	}
	t.Logf("the OS layer through the mirror took %s", time.Since(start).Round(time.Second))
	if served, _ := mirror.counts(); served == 0 {
		t.Errorf("apt fetched nothing through the authenticating mirror; the test's premise is gone:\n%s", tail(log, 40))
	}
	if tarBytesContain(t, osTar, []byte(pass)) {
		holders, _ := tarFind(t, osTar, []byte(pass), "")
		t.Errorf("the mirror's password is in the os target's tar (files: %v)", holders)
	}
	holders, found := tarFind(t, osTar, []byte(mirror.url), "/etc/apt/auth.conf.d/strata-secret.conf")
	if found {
		t.Error("the os target's tar holds /etc/apt/auth.conf.d/strata-secret.conf, the secret's mount point")
	}
	if len(holders) == 0 {
		t.Error("the os target's tar has no apt source naming the mirror; the scan proves nothing")
	}
}

// ocilayoutAddFiles derives the base with files replaced into dst and
// returns the new manifest's digest.
func ocilayoutAddFiles(dst string, files map[string][]byte) (string, error) {
	src, _, _ := strings.Cut(strings.TrimPrefix(env.base, "oci-layout://"), "@")
	desc, err := ocilayout.AddFiles(context.Background(), src, dst, files)
	if err != nil {
		return "", err
	}
	return desc.Digest.String(), nil
}

// failure is the error a failed strata build ended with.
func failure(log string) string {
	lines := strings.Split(log, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "strata: ") {
			return lines[i]
		}
	}
	return tail(log, 10)
}
