// Package registrytest runs go-containerregistry's in-process OCI registry (memory-backed,
// silent) on a loopback port, for tests and for `talon demo`, and can make it misbehave on
// purpose (serve wrong bytes for one blob) to exercise verification against a real server.
// It does not import "testing", so non-test binaries may use Serve.
package registrytest

import (
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// TB is the part of testing.TB that Start uses; *testing.T and *testing.B satisfy it.
type TB interface {
	Helper()
	Cleanup(func())
	Fatalf(format string, args ...any)
}

// Middleware wraps the registry's handler, e.g. ReplaceBlob.
type Middleware func(http.Handler) http.Handler

// Start serves a registry for the duration of t and returns its "127.0.0.1:port".
func Start(t TB, mw ...Middleware) string {
	t.Helper()
	host, stop, err := Serve(mw...)
	if err != nil {
		t.Fatalf("registrytest: %v", err)
	}
	t.Cleanup(stop)
	return host
}

// Serve starts a registry on 127.0.0.1 (a free port) and returns its "127.0.0.1:port" and a
// stop function that closes the listener and all connections. Middleware applies in order,
// the first outermost.
func Serve(mw ...Middleware) (host string, stop func(), err error) {
	var h http.Handler = ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln) // http.ErrServerClosed after stop
	}()
	return ln.Addr().String(), func() { srv.Close(); <-done }, nil
}

// ReplaceBlob makes GET of blob d answer body instead of the stored bytes, with an honest
// Content-Length for body: a registry serving corrupted or substituted content.
func ReplaceBlob(d v1.Hash, body []byte) Middleware {
	return replaceBlob(d, body, false)
}

// ReplaceBlobChunked is ReplaceBlob without Content-Length (chunked transfer encoding), so
// a client only notices a wrong length by counting.
func ReplaceBlobChunked(d v1.Hash, body []byte) Middleware {
	return replaceBlob(d, body, true)
}

func replaceBlob(d v1.Hash, body []byte, chunked bool) Middleware {
	suffix := "/blobs/" + d.String()
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, "/v2/") || !strings.HasSuffix(r.URL.Path, suffix) {
				next.ServeHTTP(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Docker-Content-Digest", d.String())
			if !chunked {
				w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			}
			w.WriteHeader(http.StatusOK)
			if chunked {
				w.(http.Flusher).Flush()
			}
			_, _ = w.Write(body)
		})
	}
}
