// Package releaseserver serves a local Kubernetes release tree over HTTP, so
// e2e builds fetch kubelet, containerd, runc, crictl and the CNI plugins
// through kubernetes.source without leaving the machine.
//
// The tree is the one e2e/cmd/mkartifacts writes: the upstream download URLs
// with their hosts dropped (see Release for the paths). The server listens on
// 127.0.0.1 only, answers GET and HEAD, and keeps a log of what it served so
// a test can tell which artifacts a build fetched again and which it took
// from BuildKit's cache.
package releaseserver

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Options adjusts what the server answers.
type Options struct {
	// Tamper maps URL paths (as Release returns them) to bytes served in
	// place of the file's own. Paths not in it are served unchanged, so
	// swapping an artifact leaves its checksum file honest about the real
	// one and the build must notice; swapping a checksum file serves a
	// wrong or malformed one. A path may name a file that does not exist
	// in the tree.
	Tamper map[string][]byte
	// Authorization, when set, is the header value every request must
	// carry, as a private mirror wants a token; others get 401.
	Authorization string
}

// Request is one request the server answered.
type Request struct {
	Method string
	Path   string
	Status int
}

// Server is a running release server. Its methods are safe for concurrent
// use.
type Server struct {
	root   *os.Root
	tamper map[string][]byte
	auth   string
	url    string
	http   *http.Server
	done   chan struct{}

	mu    sync.Mutex
	log   []Request
	etags map[string]etag
}

// etag is a cached entity tag with the file state it was computed from.
type etag struct {
	size  int64
	mtime time.Time
	value string
}

// Start serves dir on a fresh port of 127.0.0.1 until Close.
func Start(dir string, opts Options) (*Server, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("release server: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("release server: %s is not a directory", dir)
	}
	// os.Root keeps every open inside dir, symlinks included, so a crafted
	// path cannot read the rest of the machine.
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("release server: %w", err)
	}
	s := &Server{
		root:   root,
		tamper: make(map[string][]byte, len(opts.Tamper)),
		auth:   opts.Authorization,
		done:   make(chan struct{}),
		etags:  make(map[string]etag),
	}
	for p, b := range opts.Tamper {
		s.tamper[cleanPath(p)] = bytes.Clone(b)
	}

	// Loopback only: the fixture must never be reachable from outside.
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("release server: %w", err)
	}
	s.url = "http://" + ln.Addr().String()
	s.http = &http.Server{
		Handler:           http.HandlerFunc(s.serve),
		ReadHeaderTimeout: 30 * time.Second,
	}
	go func() {
		defer close(s.done)
		s.http.Serve(ln)
	}()
	return s, nil
}

// URL is the server's base URL, without a trailing slash, so URL() plus a
// Release path is an artifact's URL. It is the value for kubernetes.source.
func (s *Server) URL() string { return s.url }

// Close stops the server, cutting open connections.
func (s *Server) Close() error {
	err := s.http.Close()
	<-s.done
	return errors.Join(err, s.root.Close())
}

// Requests lists, in order, the paths whose content the server sent: GET
// requests answered 200 or 206. HEAD probes and 304 Not Modified answers
// (BuildKit's cache revalidating a download) are not in it; Log has them.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var paths []string
	for _, r := range s.log {
		if r.Method == http.MethodGet && (r.Status == http.StatusOK || r.Status == http.StatusPartialContent) {
			paths = append(paths, r.Path)
		}
	}
	return paths
}

// Log lists every request the server answered, in order.
func (s *Server) Log() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

// ResetLog forgets the requests so far, so a test can look at one build's
// requests alone.
func (s *Server) ResetLog() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = nil
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	s.answer(rec, r)
	s.mu.Lock()
	s.log = append(s.log, Request{Method: r.Method, Path: r.URL.Path, Status: rec.status})
	s.mu.Unlock()
}

func (s *Server) answer(w http.ResponseWriter, r *http.Request) {
	if s.auth != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte(s.auth)) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="strata-e2e"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	// Upstream URLs are clean; anything else (dot segments, doubled
	// slashes) is not an artifact, and answering it plainly is simpler to
	// reason about than a redirect.
	p := r.URL.Path
	if p != cleanPath(p) || p == "/" {
		http.NotFound(w, r)
		return
	}

	var (
		content io.ReadSeeker
		modTime time.Time
		tag     string
	)
	fi, f, err := s.open(p)
	if f != nil {
		defer f.Close()
	}
	if b, ok := s.tamper[p]; ok {
		// The real file's time is kept so only the bytes give the swap
		// away; the entity tag follows the bytes actually sent.
		if err == nil {
			modTime = fi.ModTime()
		}
		sum := sha256.Sum256(b)
		content, tag = bytes.NewReader(b), quoteTag(hex.EncodeToString(sum[:]))
	} else {
		if err != nil {
			http.NotFound(w, r)
			return
		}
		if tag, err = s.etag(p, fi, f); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		content, modTime = f, fi.ModTime()
	}
	// Both upstream hosts send entity tags, and BuildKit's HTTP source
	// revalidates its cached downloads with them (If-None-Match, or a HEAD
	// first); ServeContent answers those with 304.
	w.Header().Set("ETag", tag)
	http.ServeContent(w, r, path.Base(p), modTime, content)
}

// open opens the regular file at URL path p. Directories are not served:
// neither upstream host lists them.
func (s *Server) open(p string) (fs.FileInfo, *os.File, error) {
	f, err := s.root.Open(filepath.FromSlash(strings.TrimPrefix(p, "/")))
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, f, err
	}
	if !fi.Mode().IsRegular() {
		return nil, f, fs.ErrNotExist
	}
	return fi, f, nil
}

// etag returns the entity tag of the file at p: its SHA-256, so the tag
// changes exactly when the content does. Digests are kept per path and
// recomputed when the file's size or time changes.
func (s *Server) etag(p string, fi fs.FileInfo, f *os.File) (string, error) {
	s.mu.Lock()
	e, ok := s.etags[p]
	s.mu.Unlock()
	if ok && e.size == fi.Size() && e.mtime.Equal(fi.ModTime()) {
		return e.value, nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", p, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", fmt.Errorf("hash %s: %w", p, err)
	}
	e = etag{size: fi.Size(), mtime: fi.ModTime(), value: quoteTag(hex.EncodeToString(h.Sum(nil)))}
	s.mu.Lock()
	s.etags[p] = e
	s.mu.Unlock()
	return e.value, nil
}

func quoteTag(v string) string { return `"` + v + `"` }

// cleanPath turns p into the form the server compares paths in: rooted and
// without dot segments or doubled slashes.
func cleanPath(p string) string {
	return path.Clean("/" + p)
}

// statusRecorder remembers the status a handler wrote, for the log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}
