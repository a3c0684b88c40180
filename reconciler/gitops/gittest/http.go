package gittest

import (
	"crypto/subtle"
	"log"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// HTTPServer serves every repository under a root over git's smart HTTP protocol through
// the real git-http-backend (run as CGI by net/http/cgi), pushes included. It counts the
// requests it serves so tests can tell a ref listing from a pack transfer.
type HTTPServer struct {
	// URL is the base URL, "http://127.0.0.1:PORT"; root/name.git is at URL+"/name.git".
	URL string

	mu          sync.Mutex
	requests    int
	uploadPacks int
}

// HTTPOption configures NewHTTPServer.
type HTTPOption func(*httpConfig)

type httpConfig struct{ user, password string }

// WithBasicAuth makes the server answer 401 to any request without these HTTP basic
// credentials. The default is no authentication.
func WithBasicAuth(user, password string) HTTPOption {
	return func(c *httpConfig) { c.user, c.password = user, password }
}

// StartHTTP is NewHTTPServer(t, root).URL: smart HTTP for every repository under root,
// without authentication.
func StartHTTP(t testing.TB, root string) string {
	t.Helper()
	return NewHTTPServer(t, root).URL
}

// NewHTTPServer starts a smart HTTP git server on a loopback port for every repository under
// root (GIT_PROJECT_ROOT=root, GIT_HTTP_EXPORT_ALL=1, http.receivepack=true). t.Cleanup
// closes it.
func NewHTTPServer(t testing.TB, root string, opts ...HTTPOption) *HTTPServer {
	t.Helper()
	var cfg httpConfig
	for _, o := range opts {
		o(&cfg)
	}
	backend := filepath.Join(Git(t, root, "--exec-path"), "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		t.Fatalf("git-http-backend: %v", err)
	}
	stderr := &LockedBuffer{}
	cgiHandler := &cgi.Handler{
		Path: backend,
		Dir:  root,
		Env: []string{
			"GIT_PROJECT_ROOT=" + root,
			"GIT_HTTP_EXPORT_ALL=1",
			"HOME=" + os.DevNull,
			"GIT_CONFIG_NOSYSTEM=1",
			"GIT_CONFIG_GLOBAL=" + os.DevNull,
			// http.receivepack for every repository, also those not made by NewBareRepo.
			"GIT_CONFIG_COUNT=1",
			"GIT_CONFIG_KEY_0=http.receivepack",
			"GIT_CONFIG_VALUE_0=true",
		},
		Logger: log.New(stderr, "cgi: ", 0),
		Stderr: stderr,
	}
	s := &HTTPServer{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cfg.user != "" || cfg.password != "" {
			u, p, ok := r.BasicAuth()
			if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(cfg.user)) != 1 ||
				subtle.ConstantTimeCompare([]byte(p), []byte(cfg.password)) != 1 {
				w.Header().Set("WWW-Authenticate", `Basic realm="gittest"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
		s.mu.Lock()
		s.requests++
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-upload-pack") {
			s.uploadPacks++
		}
		s.mu.Unlock()
		cgiHandler.ServeHTTP(w, r)
	}))
	s.URL = srv.URL
	t.Cleanup(func() {
		srv.Close()
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("git-http-backend stderr:\n%s", stderr.String())
		}
	})
	return s
}

// Requests returns how many authenticated requests the server has served.
func (s *HTTPServer) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// UploadPackRequests returns how many POST .../git-upload-pack requests the server has
// served. With protocol v0/v1 clients, go-git among them, these are the pack negotiations,
// the only requests that can transfer objects, while listing refs is a GET of info/refs;
// the git CLI's protocol v2 also lists refs with such a POST.
func (s *HTTPServer) UploadPackRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.uploadPacks
}
