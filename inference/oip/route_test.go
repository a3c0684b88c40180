package oip

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
)

// inferPattern is the pattern NewServer routes unversioned infer requests by.
const inferPattern = "POST /v2/models/{org}/infer"

// checkInferPath checks inferPath against the server's mux for one request
// (method and request target): inferPath must take the request only when the
// mux routes it to inferPattern as it is (no redirect), with the same org.
func checkInferPath(t *testing.T, s *Server, method, target string) {
	raw := method + " " + target + " HTTP/1.1\r\nHost: talon.test\r\nContent-Length: 0\r\n\r\n"
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		return // not a request the server would see
	}
	org, ok := inferPath(r)
	_, pattern := s.mux.Handler(r)
	var muxOrg string
	if pattern == inferPattern {
		one := http.NewServeMux()
		one.HandleFunc(inferPattern, func(_ http.ResponseWriter, r *http.Request) { muxOrg = r.PathValue("org") })
		one.ServeHTTP(discard{}, r)
	}
	if ok && (pattern != inferPattern || org != muxOrg) {
		t.Errorf("%s %s: inferPath took it (org %q), the mux routes it to %q (org %q)", method, target, org, pattern, muxOrg)
	}
}

type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}

// TestInferPathAgreesWithMux: the infer fast path takes the usual infer
// requests, and takes nothing the mux would route elsewhere, redirect, or
// match with another org (escapes, dot segments, doubled or trailing
// slashes, versioned paths, other methods).
func TestInferPathAgreesWithMux(t *testing.T) {
	s := NewServer(testCache(t), ServerOptions{})
	for _, tt := range []struct {
		method, target string
		fast           string // the org inferPath returns ("" when it leaves the request to the mux)
	}{
		{"POST", "/v2/models/acme/infer", "acme"},
		{"POST", "/v2/models/acme/infer?x=1", "acme"},
		{"POST", "/v2/models/ac.me-1_x~/infer", "ac.me-1_x~"},
		{"POST", "/v2/models/versions/infer", "versions"},
		{"POST", "/v2/models/infer/infer", "infer"},
		{"POST", "http://talon.test/v2/models/acme/infer", "acme"},
		{"POST", "/v2/models/a%20b/infer", "a b"},
		{"POST", "/v2/models/%C3%A9/infer", "é"},
		{"POST", "/v2/models/a%2Fb/infer", ""},
		{"POST", "/v2/models/%61cme/infer", ""},
		{"POST", "/v2/models/./infer", ""},
		{"POST", "/v2/models/../infer", ""},
		{"POST", "/v2/models/%2E/infer", ""},
		{"POST", "/v2/models//infer", ""},
		{"POST", "/v2/models/acme//infer", ""},
		{"POST", "/v2//models/acme/infer", ""},
		{"POST", "/v2/models/acme/infer/", ""},
		{"POST", "/v2/models/acme/versions/v1/infer", ""},
		{"POST", "/v2/models/a/b/infer", ""},
		{"POST", "/v2/models/acme/Infer", ""},
		{"POST", "/v2/models/acme/feedback", ""},
		{"GET", "/v2/models/acme/infer", ""},
		{"post", "/v2/models/acme/infer", ""},
		{"PUT", "/v2/models/acme/infer", ""},
		{"POST", "*", ""},
	} {
		raw := tt.method + " " + tt.target + " HTTP/1.1\r\nHost: talon.test\r\n\r\n"
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			t.Fatalf("%s %s: %v", tt.method, tt.target, err)
		}
		if org, _ := inferPath(r); org != tt.fast {
			t.Errorf("%s %s: inferPath takes org %q, want %q", tt.method, tt.target, org, tt.fast)
		}
		checkInferPath(t, s, tt.method, tt.target)
	}
}

// FuzzInferPath: for any request target, the fast path agrees with the mux.
func FuzzInferPath(f *testing.F) {
	for _, seed := range []string{"/v2/models/acme/infer", "/v2/models/a%2Fb/infer", "/v2/models/../infer",
		"/v2/models/acme/versions/v1/infer", "/v2//models/x/infer", "/v2/models/%zz/infer"} {
		f.Add(seed)
	}
	s := NewServer(testCache(f), ServerOptions{})
	f.Fuzz(func(t *testing.T, target string) {
		if strings.ContainsAny(target, " \r\n") {
			return
		}
		checkInferPath(t, s, "POST", target)
	})
}
