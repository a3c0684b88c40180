package oip

import (
	"fmt"
	"net/http"
	"time"

	"github.com/eaglenotifier/talon/inference/monitor"
)

// MonitoringPath is the route of an org's rolling-window statistics.
const MonitoringPath = "/talon/v1/orgs/{org}/monitoring"

// WindowJSON is the JSON form of a monitor.WindowStats: durations in seconds,
// times in RFC 3339.
type WindowJSON struct {
	Version           string    `json:"version"`
	From              time.Time `json:"from"`
	To                time.Time `json:"to"`
	WindowSeconds     float64   `json:"window_seconds"`
	Samples           int64     `json:"samples"`
	Errors            int64     `json:"errors"`
	ClientErrors      int64     `json:"client_errors"`
	ErrorRate         float64   `json:"error_rate"`
	LatencyP50Seconds float64   `json:"latency_p50_seconds"`
	LatencyP99Seconds float64   `json:"latency_p99_seconds"`
	Feedback          int64     `json:"feedback"`
	Correct           int64     `json:"correct"`
	Accuracy          float64   `json:"accuracy"`
}

// WindowJSONOf converts st.
func WindowJSONOf(st monitor.WindowStats) WindowJSON {
	return WindowJSON{
		Version: st.Version, From: st.From, To: st.To, WindowSeconds: st.Window.Seconds(),
		Samples: st.Samples, Errors: st.Errors, ClientErrors: st.ClientErrors, ErrorRate: st.ErrorRate,
		LatencyP50Seconds: st.P50.Seconds(), LatencyP99Seconds: st.P99.Seconds(),
		Feedback: st.Feedback, Correct: st.Correct, Accuracy: st.Accuracy,
	}
}

// MonitoringJSON is the body of GET /talon/v1/orgs/{org}/monitoring.
type MonitoringJSON struct {
	Org string `json:"org"`
	// ServingVersion is the version serving now ("" if none).
	ServingVersion string `json:"serving_version"`
	// Threshold is the org's decision threshold for scoring feedback.
	Threshold float64 `json:"threshold"`
	// Current is the window of the version that answered the latest request
	// (null before any request).
	Current *WindowJSON `json:"current"`
	// Versions holds the window of every version the monitor keeps, newest first.
	Versions []WindowJSON `json:"versions"`
}

func (s *Server) monitoring(w http.ResponseWriter, r *http.Request) {
	org := r.PathValue("org")
	info, served := s.cache.Info(org)
	versions := s.opts.Monitor.Versions(org)
	if !served && len(versions) == 0 {
		writeError(w, http.StatusNotFound, fmt.Sprintf("model %q is neither served nor monitored", org))
		return
	}
	resp := MonitoringJSON{Org: org, ServingVersion: info.Version, Threshold: s.Threshold(org), Versions: []WindowJSON{}}
	if st, ok := s.opts.Monitor.Snapshot(org); ok {
		j := WindowJSONOf(st)
		resp.Current = &j
	}
	for _, v := range versions {
		if st, ok := s.opts.Monitor.SnapshotVersion(org, v); ok {
			resp.Versions = append(resp.Versions, WindowJSONOf(st))
		}
	}
	writeJSON(w, http.StatusOK, resp)
}
