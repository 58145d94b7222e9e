package releaseserver

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// tree writes files (URL path -> content) under a temporary directory.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func start(t *testing.T, dir string, opts Options) *Server {
	t.Helper()
	s, err := Start(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// get fetches path from s and returns the status and body.
func get(t *testing.T, s *Server, p string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URL()+p, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func sha256hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestServesTreeOnLoopback(t *testing.T) {
	rel := Release{Kubernetes: "v1.36.3"}
	kubelet := rel.KubeBinary("kubelet")
	s := start(t, tree(t, map[string]string{
		kubelet:             "kubelet bytes",
		kubelet + ".sha256": sha256hex("kubelet bytes"),
	}), Options{})

	u, err := url.Parse(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	if host := u.Hostname(); host != "127.0.0.1" {
		t.Errorf("listening on %s, want loopback 127.0.0.1", host)
	}
	if strings.HasSuffix(s.URL(), "/") {
		t.Errorf("URL %q ends in a slash; URL()+path would double it", s.URL())
	}

	resp, body := get(t, s, kubelet)
	if resp.StatusCode != http.StatusOK || body != "kubelet bytes" {
		t.Fatalf("GET %s = %d %q", kubelet, resp.StatusCode, body)
	}
	if got, want := resp.Header.Get("ETag"), `"`+sha256hex("kubelet bytes")+`"`; got != want {
		t.Errorf("ETag = %s, want %s", got, want)
	}
	if _, body := get(t, s, kubelet+".sha256"); body != sha256hex("kubelet bytes") {
		t.Errorf("checksum file = %q", body)
	}
}

func TestNotFound(t *testing.T) {
	s := start(t, tree(t, map[string]string{"/a/b/file": "x"}), Options{})
	for _, p := range []string{
		"/",
		"/a",          // a directory: no listings
		"/a/b/",       // the same, with a slash
		"/a/b/nope",   // missing
		"/a//b/file",  // not a clean upstream path
		"/a/./b/file", // likewise
	} {
		if resp, _ := get(t, s, p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, resp.StatusCode)
		}
	}
}

// TestNoEscape sends raw requests, since Go's client would clean the path
// before the server saw it.
func TestNoEscape(t *testing.T) {
	parent := t.TempDir()
	if err := os.WriteFile(filepath.Join(parent, "secret"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(parent, "tree")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// A symlink inside the tree pointing out of it must not be followed.
	if err := os.Symlink(filepath.Join(parent, "secret"), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	s := start(t, dir, Options{})
	addr := strings.TrimPrefix(s.URL(), "http://")
	for _, target := range []string{"/../secret", "/%2e%2e/secret", "/link"} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", target)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			conn.Close()
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		conn.Close()
		if resp.StatusCode == http.StatusOK || strings.Contains(string(body), "secret") {
			t.Errorf("GET %s = %d %q, want it refused", target, resp.StatusCode, body)
		}
	}
}

func TestTamper(t *testing.T) {
	rel := Release{Runc: "1.1.5"}
	runc, sums := rel.RuncBinary(), rel.RuncChecksums()
	honest := sha256hex("real runc") + "  runc.amd64\n"
	s := start(t, tree(t, map[string]string{runc: "real runc", sums: honest}), Options{
		Tamper: map[string][]byte{
			// Keys are cleaned, so a missing leading slash still matches.
			strings.TrimPrefix(runc, "/"): []byte("evil runc"),
			"/not/in/tree":                []byte("made up"),
		},
	})

	resp, body := get(t, s, runc)
	if body != "evil runc" {
		t.Errorf("tampered GET = %q", body)
	}
	if got, want := resp.Header.Get("ETag"), `"`+sha256hex("evil runc")+`"`; got != want {
		t.Errorf("tampered ETag = %s, want %s (the tag must follow the bytes sent)", got, want)
	}
	if _, body := get(t, s, sums); body != honest {
		t.Errorf("checksum file changed: %q", body)
	}
	if resp, body := get(t, s, "/not/in/tree"); resp.StatusCode != http.StatusOK || body != "made up" {
		t.Errorf("tampered missing file = %d %q", resp.StatusCode, body)
	}
}

func TestRequestLog(t *testing.T) {
	rel := Release{CNI: "1.1.1"}
	cni := rel.CNITarball()
	s := start(t, tree(t, map[string]string{cni: "tgz", cni + ".sha256": "sum"}), Options{})

	resp, _ := get(t, s, cni)
	tag := resp.Header.Get("ETag")
	get(t, s, cni+".sha256")
	// A revalidation, as BuildKit sends for a cached download: not a
	// download, so not in Requests.
	if resp, _ := get(t, s, cni, "If-None-Match", tag); resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match with the current tag = %d, want 304", resp.StatusCode)
	}
	head, err := http.Head(s.URL() + cni)
	if err != nil {
		t.Fatal(err)
	}
	head.Body.Close()
	get(t, s, "/missing")

	if got, want := s.Requests(), []string{cni, cni + ".sha256"}; !slices.Equal(got, want) {
		t.Errorf("Requests() = %q, want %q", got, want)
	}
	want := []Request{
		{"GET", cni, 200},
		{"GET", cni + ".sha256", 200},
		{"GET", cni, 304},
		{"HEAD", cni, 200},
		{"GET", "/missing", 404},
	}
	if got := s.Log(); !slices.Equal(got, want) {
		t.Errorf("Log() = %v, want %v", got, want)
	}
	s.ResetLog()
	if got := s.Log(); len(got) != 0 {
		t.Errorf("Log() after ResetLog = %v", got)
	}
}

func TestETagFollowsContent(t *testing.T) {
	dir := tree(t, map[string]string{"/f": "one"})
	s := start(t, dir, Options{})
	resp, _ := get(t, s, "/f")
	first := resp.Header.Get("ETag")
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("two, longer"), 0o644); err != nil {
		t.Fatal(err)
	}
	resp, body := get(t, s, "/f", "If-None-Match", first)
	if resp.StatusCode != http.StatusOK || body != "two, longer" {
		t.Errorf("after a change: %d %q, want the new content", resp.StatusCode, body)
	}
	if resp.Header.Get("ETag") == first {
		t.Error("ETag did not change with the content")
	}
}

func TestMethods(t *testing.T) {
	s := start(t, tree(t, map[string]string{"/f": "x"}), Options{})
	resp, err := http.Post(s.URL()+"/f", "text/plain", strings.NewReader("y"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST = %d, want 405", resp.StatusCode)
	}
}

func TestStartErrors(t *testing.T) {
	if _, err := Start(filepath.Join(t.TempDir(), "missing"), Options{}); err == nil {
		t.Error("Start on a missing directory succeeded")
	}
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o644)
	if _, err := Start(f, Options{}); err == nil {
		t.Error("Start on a file succeeded")
	}
}

func TestLayout(t *testing.T) {
	rel := Release{Kubernetes: "v1.36.3", PreviousKubernetes: "v1.36.2", Containerd: "1.6.20", Runc: "1.1.5", Crictl: "1.36.0", CNI: "1.1.1"}
	prev := rel.Previous()
	for got, want := range map[string]string{
		rel.KubeBinary("kubelet"):  "/release/v1.36.3/bin/linux/amd64/kubelet",
		rel.KubeBinary("kubeadm"):  "/release/v1.36.3/bin/linux/amd64/kubeadm",
		prev.KubeBinary("kubectl"): "/release/v1.36.2/bin/linux/amd64/kubectl",
		prev.RuncBinary():          "/opencontainers/runc/releases/download/v1.1.5/runc.amd64",
		rel.ContainerdTarball():    "/containerd/containerd/releases/download/v1.6.20/containerd-1.6.20-linux-amd64.tar.gz",
		rel.RuncBinary():           "/opencontainers/runc/releases/download/v1.1.5/runc.amd64",
		rel.RuncChecksums():        "/opencontainers/runc/releases/download/v1.1.5/runc.sha256sum",
		rel.CrictlTarball():        "/kubernetes-sigs/cri-tools/releases/download/v1.36.0/crictl-v1.36.0-linux-amd64.tar.gz",
		rel.CNITarball():           "/containernetworking/plugins/releases/download/v1.1.1/cni-plugins-linux-amd64-v1.1.1.tgz",
	} {
		if got != want {
			t.Errorf("got %s\nwant %s", got, want)
		}
	}
	if prev.PreviousKubernetes != "" || prev.Previous().Kubernetes != "" {
		t.Errorf("Previous() = %+v: a previous release has no previous of its own", prev)
	}
}

// TestAuthorization: with Options.Authorization, only requests carrying
// that exact header are served; the rest get 401 and are logged as such.
func TestAuthorization(t *testing.T) {
	s := start(t, tree(t, map[string]string{"/a/file": "x"}), Options{Authorization: "Bearer s3cr3t-token"})
	for _, h := range [][]string{nil, {"Authorization", "Bearer wrong"}, {"Authorization", "Bearer s3cr3t-token2"}} {
		if resp, _ := get(t, s, "/a/file", h...); resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("GET with %v = %d, want 401 with a challenge", h, resp.StatusCode)
		}
	}
	if resp, body := get(t, s, "/a/file", "Authorization", "Bearer s3cr3t-token"); resp.StatusCode != http.StatusOK || body != "x" {
		t.Errorf("GET with the token = %d %q", resp.StatusCode, body)
	}
	if got := s.Requests(); !slices.Equal(got, []string{"/a/file"}) {
		t.Errorf("served %v, want the one authorised request", got)
	}
	if log := s.Log(); len(log) != 4 || log[0].Status != http.StatusUnauthorized {
		t.Errorf("log %+v", log)
	}
}
