package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/containerd/v2/plugins/content/local"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/strata-dev/strata/e2e/ocilayout"
	"golang.org/x/crypto/bcrypt"
)

// The credentials tier's fixtures: a registry that wants a login, a
// mirror that wants an Authorization header, and a base whose apt goes
// through a mirror that wants apt_auth.conf credentials. Every secret is
// a fresh random value, so finding it anywhere cannot be chance.

// randomToken is a fresh secret value.
func randomToken(t *testing.T) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// writeSecretFile writes content to a new file in dir, readable by its owner
// only, as a secret file should be, and returns its path.
func writeSecretFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// startAuthRegistry runs distribution's registry on a loopback port with
// htpasswd authentication for one user, and returns its localhost:PORT.
// buildkitd talks plain HTTP to localhost registries by itself, so the
// shared daemon can use it. It is stopped when the test ends.
func startAuthRegistry(t *testing.T, user, pass string) string {
	t.Helper()
	bin, err := toolBin("registry")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// The lowest bcrypt cost: the registry checks the password on every
	// request, and this one guards a test fixture.
	hash, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(htpasswd, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "registry.yml")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(`version: 0.1
storage:
  filesystem:
    rootdirectory: %s
http:
  addr: 127.0.0.1:%d
auth:
  htpasswd:
    realm: strata-e2e
    path: %s
log:
  level: warn
`, filepath.Join(dir, "data"), port, htpasswd)), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := startDaemon("registry with htpasswd", filepath.Join(dir, "registry.log"), filepath.Join(bin, "registry"), "serve", config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = d.cmd.Process.Kill()
		_, _ = d.cmd.Process.Wait()
	})
	addr := fmt.Sprintf("localhost:%d", port)
	if err := d.waitFor(func() error {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			return fmt.Errorf("GET /v2/ without credentials: %s, want 401", resp.Status)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return addr
}

// pushLayout pushes the image of an oci-layout://DIR@DIGEST reference to
// repo (localhost:PORT/NAME) as user, the way any registry client does,
// and returns repo@DIGEST.
func pushLayout(ctx context.Context, layoutRef, repo, user, pass string) (string, error) {
	dir, dgst, ok := strings.Cut(strings.TrimPrefix(layoutRef, "oci-layout://"), "@")
	if !ok {
		return "", fmt.Errorf("%s: want oci-layout://DIR@DIGEST", layoutRef)
	}
	d, err := digest.Parse(dgst)
	if err != nil {
		return "", err
	}
	store, err := local.NewStore(dir)
	if err != nil {
		return "", err
	}
	info, err := store.Info(ctx, d)
	if err != nil {
		return "", fmt.Errorf("%s: %w", layoutRef, err)
	}
	resolver := docker.NewResolver(docker.ResolverOptions{Hosts: docker.ConfigureDefaultRegistries(
		docker.WithPlainHTTP(docker.MatchLocalhost),
		docker.WithAuthorizer(docker.NewDockerAuthorizer(docker.WithAuthCreds(func(string) (string, string, error) {
			return user, pass, nil
		}))),
	)})
	pusher, err := resolver.Pusher(ctx, repo+":e2e")
	if err != nil {
		return "", err
	}
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: d, Size: info.Size}
	if err := remotes.PushContent(ctx, pusher, desc, store, nil, nil, nil); err != nil {
		return "", fmt.Errorf("pushing %s to %s: %w", layoutRef, repo, err)
	}
	return repo + "@" + dgst, nil
}

// dockerConfig writes a docker CLI config directory holding a login for
// registry, as `docker login` leaves it, and returns the directory.
func dockerConfig(t *testing.T, registry, user, pass string) string {
	t.Helper()
	dir := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	writeSecretFile(t, dir, "config.json", `{"auths": {"`+registry+`": {"auth": "`+auth+`"}}}`)
	return dir
}

// manifestStatus asks the registry for repo:tag's manifest, as user when
// user is set, and returns the HTTP status.
func manifestStatus(t *testing.T, registry, repo, tag, user, pass string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodHead, "http://"+registry+"/v2/"+repo+"/manifests/"+tag, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", ocispec.MediaTypeImageIndex+", "+ocispec.MediaTypeImageManifest)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// authMirror is a loopback reverse proxy in front of apt mirrors that
// wants HTTP basic authentication, as a private mirror does:
// http://127.0.0.1:PORT/HOST/PATH is http://HOST/PATH, for the hosts it
// was started with only.
type authMirror struct {
	url        string
	user, pass string
	hosts      map[string]bool
	srv        *http.Server

	mu                 sync.Mutex
	authorised, denied int
}

// startAuthMirror starts the proxy; it serves no host until allow.
func startAuthMirror(t *testing.T, user, pass string) *authMirror {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &authMirror{url: "http://" + ln.Addr().String(), user: user, pass: pass, hosts: map[string]bool{}}
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		host, rest, _ := strings.Cut(strings.TrimPrefix(pr.In.URL.Path, "/"), "/")
		pr.Out.URL.Scheme, pr.Out.URL.Host, pr.Out.URL.Path, pr.Out.URL.RawPath = "http", host, "/"+rest, ""
		pr.Out.Host = host
		// The mirror's credentials stay with the mirror.
		pr.Out.Header.Del("Authorization")
	}}
	m.srv = &http.Server{ReadHeaderTimeout: 30 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u+":"+p), []byte(m.user+":"+m.pass)) != 1 {
			m.count(&m.denied)
			w.Header().Set("WWW-Authenticate", `Basic realm="strata-e2e apt mirror"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		host, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		if !m.allowed(host) {
			http.NotFound(w, r)
			return
		}
		m.count(&m.authorised)
		proxy.ServeHTTP(w, r)
	})}
	go m.srv.Serve(ln)
	t.Cleanup(func() { m.srv.Close() })
	return m
}

// allow lets the proxy forward to hosts.
func (m *authMirror) allow(hosts ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, h := range hosts {
		m.hosts[h] = true
	}
}

func (m *authMirror) allowed(host string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.hosts[host]
}

func (m *authMirror) count(n *int) {
	m.mu.Lock()
	*n++
	m.mu.Unlock()
}

// counts returns how many requests were served and how many refused.
func (m *authMirror) counts() (authorised, denied int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.authorised, m.denied
}

// sourceURI finds the http:// mirror URIs in apt sources, one-line or
// deb822; comments are left alone.
var sourceURI = regexp.MustCompile(`http://([A-Za-z0-9.-]+(?::[0-9]+)?)/`)

// rewriteSources points every http:// mirror of an apt sources file at m
// and returns the new file and the mirror hosts it named.
func rewriteSources(data []byte, mirrorURL string) ([]byte, []string) {
	var hosts []string
	lines := strings.SplitAfter(string(data), "\n")
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		lines[i] = sourceURI.ReplaceAllStringFunc(l, func(s string) string {
			host := sourceURI.FindStringSubmatch(s)[1]
			hosts = append(hosts, host)
			return mirrorURL + "/" + host + "/"
		})
	}
	return []byte(strings.Join(lines, "")), hosts
}

// aptSources reads the apt sources files of a single-layer OCI layout
// (mkbase's base), by absolute path.
func aptSources(layoutRef string) (map[string][]byte, error) {
	dir, _, _ := strings.Cut(strings.TrimPrefix(layoutRef, "oci-layout://"), "@")
	m, err := ocilayout.ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	var manifest ocispec.Manifest
	if err := readJSON(filepath.Join(dir, "blobs", "sha256", m.Digest.Encoded()), &manifest); err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, l := range manifest.Layers {
		if err := eachTarFile(filepath.Join(dir, "blobs", "sha256", l.Digest.Encoded()), func(name string, r io.Reader) error {
			name = "/" + strings.TrimPrefix(strings.TrimPrefix(name, "./"), "/")
			if name == "/etc/apt/sources.list" || (strings.HasPrefix(name, "/etc/apt/sources.list.d/") &&
				(strings.HasSuffix(name, ".list") || strings.HasSuffix(name, ".sources"))) {
				b, err := io.ReadAll(r)
				out[name] = b
				return err
			}
			return nil
		}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// eachTarFile calls fn for every regular file of a tar, gzipped or not.
func eachTarFile(path string, fn func(name string, r io.Reader) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = f
	if gz, err := gzip.NewReader(f); err == nil {
		defer gz.Close()
		r = gz
	} else if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if h.Typeflag == tar.TypeReg {
			if err := fn(h.Name, tr); err != nil {
				return err
			}
		}
	}
}

// tarFind lists the files of a tar that contain needle, and reports
// whether the path wanted is in it at all.
func tarFind(t *testing.T, path string, needle []byte, wanted string) (holders []string, found bool) {
	t.Helper()
	wanted = strings.TrimPrefix(wanted, "/")
	err := eachTarFile(path, func(name string, r io.Reader) error {
		if strings.TrimPrefix(strings.TrimPrefix(name, "./"), "/") == wanted {
			found = true
		}
		b, err := io.ReadAll(r)
		if bytes.Contains(b, needle) {
			holders = append(holders, name)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return holders, found
}

// tarBytesContain reports whether the tar file's raw bytes, headers and
// all, contain needle anywhere.
func tarBytesContain(t *testing.T, path string, needle []byte) bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4<<20)
	var carry []byte
	for {
		n, err := f.Read(buf)
		chunk := append(carry, buf[:n]...)
		if bytes.Contains(chunk, needle) {
			return true
		}
		if len(chunk) >= len(needle) {
			carry = append([]byte(nil), chunk[len(chunk)-len(needle)+1:]...)
		}
		if errors.Is(err, io.EOF) {
			return false
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
