// Package gitserver serves git repositories over the smart HTTP protocol
// with the real `git http-backend` behind net/http/cgi, the way a git host
// does. Tests clone and fetch from it over loopback, so the App's fetch path
// is the one it uses against GitHub: https-style basic auth, pack
// negotiation, refs/pull/N/head refs.
package gitserver

import (
	"fmt"
	"net/http"
	"net/http/cgi"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
)

// Auth decides whether a basic-auth user and password may read a repo.
// A nil Auth serves anyone.
type Auth func(repo, user, password string) bool

// Server is a smart-HTTP git server over a directory of bare repositories
// (<root>/<owner>/<name>.git, served at /<owner>/<name>.git).
type Server struct {
	root    string
	auth    Auth
	backend string

	// Bytes counts response bytes of upload-pack (fetch) requests, so tests
	// can see that a later fetch only transfers what is new.
	uploadPackBytes atomic.Int64
	mu              sync.Mutex
	requests        []string
	fault           func(n int) int
	faultN          int
}

// SetFault makes the server answer the n-th request (1-based, counted
// from now) with the status fault returns, or serve it when 0; nil
// removes it. Tests use it for a git host that fails for a while.
func (s *Server) SetFault(fault func(n int) int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = fault
	s.faultN = 0
}

// New returns a server for the bare repositories under root.
func New(root string, auth Auth) (*Server, error) {
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		return nil, fmt.Errorf("find git exec path (is git installed?): %w", err)
	}
	backend := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	return &Server{root: root, auth: auth, backend: backend}, nil
}

// UploadPackBytes is the number of bytes sent in answer to fetches so far.
func (s *Server) UploadPackBytes() int64 { return s.uploadPackBytes.Load() }

// Requests lists "METHOD path?query" of every request served, in order.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r.Method+" "+r.URL.RequestURI())
	status := 0
	if s.fault != nil {
		s.faultN++
		status = s.fault(s.faultN)
	}
	s.mu.Unlock()
	if status != 0 {
		http.Error(w, http.StatusText(status), status)
		return
	}
	repo := repoOf(r.URL.Path)
	if repo == "" || strings.Contains(repo, "..") {
		http.NotFound(w, r)
		return
	}
	if strings.HasSuffix(r.URL.Path, "/git-receive-pack") || r.URL.Query().Get("service") == "git-receive-pack" {
		http.Error(w, "pushes are not served", http.StatusForbidden)
		return
	}
	if s.auth != nil {
		user, pass, ok := r.BasicAuth()
		if !ok || !s.auth(repo, user, pass) {
			w.Header().Set("WWW-Authenticate", `Basic realm="gitserver"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
	}
	h := &cgi.Handler{
		Path:       s.backend,
		Root:       "/",
		InheritEnv: []string{"PATH", "HOME", "TMPDIR"},
		Env: []string{
			"GIT_PROJECT_ROOT=" + s.root,
			"GIT_HTTP_EXPORT_ALL=1",
			"REMOTE_USER=gate",
		},
	}
	if strings.HasSuffix(r.URL.Path, "/git-upload-pack") {
		cw := &countingWriter{ResponseWriter: w}
		h.ServeHTTP(cw, r)
		s.uploadPackBytes.Add(cw.n)
		return
	}
	h.ServeHTTP(w, r)
}

// repoOf extracts "<owner>/<name>.git" from a smart-HTTP path.
func repoOf(p string) string {
	i := strings.Index(p, ".git/")
	if i < 0 {
		return ""
	}
	return strings.TrimPrefix(p[:i+4], "/")
}

type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.ResponseWriter.Write(b)
	c.n += int64(n)
	return n, err
}
