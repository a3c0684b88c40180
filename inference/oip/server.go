// Package oip serves the models of an inference.Cache over the Open Inference
// Protocol v2 REST API (KServe v2 / Triton).
package oip

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/eaglenotifier/talon/inference"
)

// DefaultMaxBodyBytes bounds an infer request body unless ServerOptions says
// otherwise: 32 MiB holds about a million FP32 values as JSON text.
const DefaultMaxBodyBytes = 32 << 20

// Platform is the platform reported in model metadata.
const Platform = "onnxruntime_onnx"

// Response headers carrying the serving model's provenance.
const (
	HeaderModelVersion = "Talon-Model-Version"
	HeaderModelDigest  = "Talon-Model-Digest"
	HeaderConfigCommit = "Talon-Config-Commit"
)

// ServerOptions tunes NewServer. The zero value is ready to use.
type ServerOptions struct {
	// MaxBodyBytes bounds an infer request body; a larger one gets 413. The
	// default (0) is DefaultMaxBodyBytes (32 MiB). Decoding such a body holds the
	// body, its data fields and the decoded tensors in memory, roughly three
	// times the body's size.
	MaxBodyBytes int64
	// Ready reports whether the server is ready (GET /v2/health/ready). The
	// default (nil) reports ready as soon as the server exists.
	Ready func() bool
	// Version is the server version reported by GET /v2. The default is "dev".
	Version string
	// OnPanic, if set, is called with the value a handler panicked with; the
	// client gets a 500. Panics are also counted (Server.Panics).
	OnPanic func(v any)
}

// Server is an http.Handler serving OIP v2 REST for the models of a Cache.
type Server struct {
	cache  *inference.Cache
	opts   ServerOptions
	mux    *http.ServeMux
	panics atomic.Uint64
}

// NewServer returns a Server for the models in c. Routes: GET /v2, GET
// /v2/health/live, GET /v2/health/ready, GET /v2/models/{org}[/versions/{v}],
// GET /v2/models/{org}[/versions/{v}]/ready and POST
// /v2/models/{org}[/versions/{v}]/infer. Every error is JSON {"error": "..."}.
func NewServer(c *inference.Cache, opts ServerOptions) *Server {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.Ready == nil {
		opts.Ready = func() bool { return true }
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	s := &Server{cache: c, opts: opts, mux: http.NewServeMux()}
	s.route("GET", "/v2", s.serverMetadata)
	s.route("GET", "/v2/health/live", s.live)
	s.route("GET", "/v2/health/ready", s.ready)
	for _, base := range []string{"/v2/models/{org}", "/v2/models/{org}/versions/{version}"} {
		s.route("GET", base, s.modelMetadata)
		s.route("GET", base+"/ready", s.modelReady)
		s.route("POST", base+"/infer", s.infer)
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path))
	})
	return s
}

// route registers h for method and path, and a JSON 405 for other methods.
func (s *Server) route(method, path string, h http.HandlerFunc) {
	s.mux.HandleFunc(method+" "+path, h)
	s.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", method)
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s %s: method not allowed (use %s)", r.Method, r.URL.Path, method))
	})
}

// ServeHTTP serves one request, turning a handler panic into a 500.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		if v == http.ErrAbortHandler {
			panic(v)
		}
		s.panics.Add(1)
		if s.opts.OnPanic != nil {
			s.opts.OnPanic(v)
		}
		writeError(w, http.StatusInternalServerError, "internal error")
	}()
	s.mux.ServeHTTP(w, r)
}

// Panics returns the number of handler panics recovered so far.
func (s *Server) Panics() uint64 { return s.panics.Load() }

func (s *Server) serverMetadata(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"name": "talon", "version": s.opts.Version, "extensions": []string{}})
}

func (s *Server) live(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]bool{"live": true})
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	if !s.opts.Ready() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]bool{"ready": false})
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ready": true})
}

// provenance is the "parameters" object of metadata and infer responses.
type provenance struct {
	Org          string `json:"talon_org"`
	Version      string `json:"talon_model_version"`
	Digest       string `json:"talon_model_digest"`
	ConfigCommit string `json:"talon_config_commit"`
}

func provenanceOf(w http.ResponseWriter, info inference.ModelInfo) provenance {
	h := w.Header()
	h.Set(HeaderModelVersion, info.Version)
	h.Set(HeaderModelDigest, info.Digest)
	h.Set(HeaderConfigCommit, info.ConfigCommit)
	return provenance{Org: info.Org, Version: info.Version, Digest: info.Digest, ConfigCommit: info.ConfigCommit}
}

type tensorMetadata struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

type modelMetadata struct {
	Name       string           `json:"name"`
	Versions   []string         `json:"versions"`
	Platform   string           `json:"platform"`
	Inputs     []tensorMetadata `json:"inputs"`
	Outputs    []tensorMetadata `json:"outputs"`
	Parameters provenance       `json:"parameters"`
}

// lookup returns the serving model's info, or writes a 404.
func (s *Server) lookup(w http.ResponseWriter, r *http.Request) (inference.ModelInfo, inference.Signature, bool) {
	org := r.PathValue("org")
	info, sig, ok := s.cache.Get(org)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("model %q is not served", org))
		return info, sig, false
	}
	if !versionMatches(w, r, info) {
		return info, sig, false
	}
	return info, sig, true
}

// versionMatches checks the {version} of a versioned path, writing a 404 if the
// serving model has another version.
func versionMatches(w http.ResponseWriter, r *http.Request, info inference.ModelInfo) bool {
	if v := r.PathValue("version"); v != "" && v != info.Version {
		writeError(w, http.StatusNotFound, fmt.Sprintf("model %q version %q is not served (serving %q)", info.Org, v, info.Version))
		return false
	}
	return true
}

func (s *Server) modelMetadata(w http.ResponseWriter, r *http.Request) {
	info, sig, ok := s.lookup(w, r)
	if !ok {
		return
	}
	specs := func(in []inference.TensorSpec) []tensorMetadata {
		out := make([]tensorMetadata, len(in))
		for i, t := range in {
			out[i] = tensorMetadata{Name: t.Name, Datatype: t.Datatype, Shape: t.Shape}
		}
		return out
	}
	writeJSON(w, http.StatusOK, modelMetadata{
		Name: r.PathValue("org"), Versions: []string{info.Version}, Platform: Platform,
		Inputs: specs(sig.Inputs), Outputs: specs(sig.Outputs), Parameters: provenanceOf(w, info),
	})
}

func (s *Server) modelReady(w http.ResponseWriter, r *http.Request) {
	info, _, ok := s.lookup(w, r)
	if !ok {
		return
	}
	provenanceOf(w, info)
	writeJSON(w, http.StatusOK, map[string]any{"name": r.PathValue("org"), "ready": true})
}

func (s *Server) infer(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Inference-Header-Content-Length") != "" {
		writeError(w, http.StatusBadRequest, "the binary tensor data extension is not supported; send JSON")
		return
	}
	if _, _, ok := s.lookup(w, r); !ok {
		return
	}
	req, err := DecodeInferRequest(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes))
	if err != nil {
		writeError(w, decodeStatus(err), err.Error())
		return
	}
	org := r.PathValue("org")
	m, release, ok := s.cache.Acquire(org)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("model %q is not served", org))
		return
	}
	info := m.Info()
	if !versionMatches(w, r, info) {
		release()
		return
	}
	outs, err := m.Infer(r.Context(), req.Inputs, req.Outputs)
	release()
	p := provenanceOf(w, info)
	if err != nil {
		writeError(w, inferStatus(err), err.Error())
		return
	}
	if req.ID == "" {
		req.ID = newID()
	}
	writeInferResponse(w, org, req.ID, p, outs)
}

func decodeStatus(err error) int {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest
	}
	return http.StatusBadRequest // the client's body could not be read
}

// StatusClientClosedRequest is the (nginx) status logged when the client went
// away before its inference finished.
const StatusClientClosedRequest = 499

func inferStatus(err error) int {
	switch {
	case errors.Is(err, inference.ErrBadInput):
		return http.StatusBadRequest
	case errors.Is(err, context.Canceled):
		return StatusClientClosedRequest
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	case errors.Is(err, inference.ErrClosed):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// writeInferResponse writes the OIP infer response. Output data is encoded by
// appendData (json.Marshal would reflect over every element and reject NaN).
func writeInferResponse(w http.ResponseWriter, org, id string, p provenance, outs []inference.Tensor) {
	b := make([]byte, 0, 256)
	b = append(b, `{"model_name":`...)
	b = appendJSON(b, org)
	b = append(b, `,"model_version":`...)
	b = appendJSON(b, p.Version)
	b = append(b, `,"id":`...)
	b = appendJSON(b, id)
	b = append(b, `,"parameters":`...)
	b = appendJSON(b, p)
	b = append(b, `,"outputs":[`...)
	for i, t := range outs {
		b = comma(b, i)
		b = append(b, `{"name":`...)
		b = appendJSON(b, t.Name)
		b = append(b, `,"datatype":`...)
		b = appendJSON(b, t.Datatype)
		b = append(b, `,"shape":`...)
		b = appendJSON(b, t.Shape)
		b = append(b, `,"data":`...)
		b = appendData(b, t.Data)
		b = append(b, '}')
	}
	b = append(b, "]}\n"...)
	writeBody(w, http.StatusOK, b)
}

// appendJSON appends v marshalled; v is always a string, []int64 or provenance,
// which cannot fail to marshal.
func appendJSON(b []byte, v any) []byte {
	j, _ := json.Marshal(v)
	return append(b, j...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encode response"}`)
	}
	writeBody(w, status, append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeBody(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

// newID returns a random request id (a UUID version 4).
func newID() string {
	var u [16]byte
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
