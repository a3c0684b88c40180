package oip

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eaglenotifier/talon/inference"
	"github.com/eaglenotifier/talon/inference/metrics"
	"github.com/eaglenotifier/talon/inference/monitor"
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
	// default (0) is DefaultMaxBodyBytes (32 MiB). The body is read whole
	// before it is decoded; decoding holds it, the decoded tensors (and, for
	// a request of an unusual form, a copy of its data fields) in memory,
	// at most about three times the body's size.
	MaxBodyBytes int64
	// Ready reports whether the server is ready (GET /v2/health/ready). The
	// default (nil) reports ready as soon as the server exists.
	Ready func() bool
	// Version is the server version reported by GET /v2. The default is "dev".
	Version string
	// OnPanic, if set, is called with the value a handler panicked with; the
	// client gets a 500. Panics are also counted (Server.Panics).
	OnPanic func(v any)
	// Metrics, if set, records every infer request and feedback, and is
	// served at GET /metrics. The default (nil) records nothing.
	Metrics *metrics.Metrics
	// Monitor, if set, records every infer request and feedback in the org's
	// rolling window, served at GET /talon/v1/orgs/{org}/monitoring. The
	// default (nil) keeps no windows.
	Monitor *monitor.Monitor
	// FeedbackCapacity is the number of recent predictions remembered per org
	// for feedback. The default (0) is DefaultFeedbackCapacity (100,000); a
	// negative value disables feedback.
	FeedbackCapacity int
	// FeedbackTTL is how long a prediction accepts feedback. The default (0) is
	// DefaultFeedbackTTL (1h).
	FeedbackTTL time.Duration
	// FeedbackMaxRows is the largest request (rows, dimension 0 of the scored
	// output) whose predictions are remembered. The default (0) is
	// DefaultFeedbackMaxRows (64).
	FeedbackMaxRows int
}

// Server is an http.Handler serving OIP v2 REST for the models of a Cache.
type Server struct {
	cache      *inference.Cache
	opts       ServerOptions
	mux        *http.ServeMux
	panics     atomic.Uint64
	preds      *predictions // nil when feedback is disabled
	thresholds sync.Map     // org → float64
}

// NewServer returns a Server for the models in c; the package documentation
// lists its routes. Every error is JSON {"error": "..."}.
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
	if opts.FeedbackCapacity == 0 {
		opts.FeedbackCapacity = DefaultFeedbackCapacity
	}
	if opts.FeedbackTTL <= 0 {
		opts.FeedbackTTL = DefaultFeedbackTTL
	}
	if opts.FeedbackMaxRows <= 0 {
		opts.FeedbackMaxRows = DefaultFeedbackMaxRows
	}
	s := &Server{cache: c, opts: opts, mux: http.NewServeMux()}
	if opts.FeedbackCapacity > 0 {
		s.preds = newPredictions(opts.FeedbackCapacity, opts.FeedbackTTL)
	}
	s.route("GET", "/v2", s.serverMetadata)
	s.route("GET", "/v2/health/live", s.live)
	s.route("GET", "/v2/health/ready", s.ready)
	for _, base := range []string{"/v2/models/{org}", "/v2/models/{org}/versions/{version}"} {
		s.route("GET", base, s.modelMetadata)
		s.route("GET", base+"/ready", s.modelReady)
		s.route("POST", base+"/infer", s.infer)
	}
	s.route("POST", "/v2/models/{org}/feedback", s.feedback)
	if opts.Metrics != nil {
		h := opts.Metrics.Handler()
		s.route("GET", "/metrics", h.ServeHTTP)
	}
	if opts.Monitor != nil {
		s.route("GET", MonitoringPath, s.monitoring)
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
	if org, ok := inferPath(r); ok {
		s.inferOrg(w, r, org)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// inferPath reports whether r is POST /v2/models/{org}/infer as the mux would
// route it, and returns org, so that the most frequent request skips the
// mux's matching (which allocates). It takes only paths the mux takes as they
// are: no escapes (RawPath empty), nothing cleanPath would change, org one
// segment; anything else is left to the mux.
func inferPath(r *http.Request) (string, bool) {
	const prefix, suffix = "/v2/models/", "/infer"
	p := r.URL.Path
	if r.Method != http.MethodPost || r.URL.RawPath != "" || len(p) <= len(prefix)+len(suffix) ||
		p[:len(prefix)] != prefix || p[len(p)-len(suffix):] != suffix {
		return "", false
	}
	org := p[len(prefix) : len(p)-len(suffix)]
	if org == "." || org == ".." || strings.IndexByte(org, '/') >= 0 {
		return "", false
	}
	return org, true
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
	v := make([]string, 3) // one allocation for the three header values
	v[0], v[1], v[2] = info.Version, info.Digest, info.ConfigCommit
	h := w.Header() // the names are canonical (TestHeaderNamesCanonical)
	h[HeaderModelVersion], h[HeaderModelDigest], h[HeaderConfigCommit] = v[0:1:1], v[1:2:2], v[2:3:3]
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
	org := r.PathValue("org")
	info, ok := s.cache.Info(org)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("model %q is not served", org))
		return
	}
	if !versionMatches(w, r, info) {
		return
	}
	provenanceOf(w, info)
	writeJSON(w, http.StatusOK, map[string]any{"name": r.PathValue("org"), "ready": true})
}
