package oip

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/eaglenotifier/talon/inference"
	"github.com/eaglenotifier/talon/inference/metrics"
	"github.com/eaglenotifier/talon/inference/monitor"
)

// infer serves an infer request and records it in the metrics and monitor.
// The clock is read only when something records.
func (s *Server) infer(w http.ResponseWriter, r *http.Request) {
	s.inferOrg(w, r, r.PathValue("org"))
}

// inferOrg is infer for org (the path's {org}).
func (s *Server) inferOrg(w http.ResponseWriter, r *http.Request, org string) {
	info, ok := s.cache.Info(org)
	if !ok {
		if s.opts.Metrics != nil {
			s.opts.Metrics.ObserveUnknownModel()
		}
		writeError(w, http.StatusNotFound, fmt.Sprintf("model %q is not served", org))
		return
	}
	if s.opts.Metrics == nil && s.opts.Monitor == nil && s.preds == nil {
		s.serveInfer(w, r, org, info, time.Time{})
		return
	}
	start := time.Now()
	var mr *metrics.Request
	if s.opts.Metrics != nil {
		mr = s.opts.Metrics.RequestStarted(org)
	}
	version, status := info.Version, http.StatusInternalServerError // if serveInfer panics
	defer func() {
		end := time.Now()
		o := outcomeOf(status)
		if mr != nil {
			mr.Finished(version, o, end.Sub(start))
		}
		if s.opts.Monitor != nil {
			s.opts.Monitor.ObserveRequest(org, version, end, end.Sub(start), o)
		}
	}()
	version, status = s.serveInfer(w, r, org, info, start)
}

// serveInfer answers an infer request of org, whose serving model was info
// when the request arrived at start, and returns the version that answered
// (or would have) and the response status.
func (s *Server) serveInfer(w http.ResponseWriter, r *http.Request, org string, info inference.ModelInfo, start time.Time) (string, int) {
	fail := func(status int, msg string) (string, int) {
		writeError(w, status, msg)
		return info.Version, status
	}
	// r.Header.Get without canonicalizing the name again: the server did.
	if v := r.Header["Inference-Header-Content-Length"]; len(v) > 0 && v[0] != "" {
		return fail(http.StatusBadRequest, "the binary tensor data extension is not supported; send JSON")
	}
	if !versionMatches(w, r, info) {
		return info.Version, http.StatusNotFound
	}
	req, err := decodeRequest(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes), r.ContentLength)
	if err != nil {
		return fail(decodeStatus(err), err.Error())
	}
	m, release, ok := s.cache.Acquire(org)
	if !ok {
		return fail(http.StatusNotFound, fmt.Sprintf("model %q is not served", org))
	}
	info = m.Info() // another model if swapped since the request arrived
	if !versionMatches(w, r, info) {
		release()
		return info.Version, http.StatusNotFound
	}
	if req.ID == "" {
		req.ID = newID()
	}
	p := provenanceOf(w, info)
	bp := responsePool.Get().(*[]byte)
	body := (*bp)[:0]
	err = m.InferFunc(r.Context(), req.Inputs, req.Outputs, func(outs []inference.Tensor) error {
		s.remember(org, req.ID, info.Version, m.OutputName(0), outs, start)
		body = appendInferResponse(body, org, req.ID, p, outs)
		return nil
	})
	release()
	if err == nil {
		writeBody(w, http.StatusOK, body)
	}
	if cap(body) <= maxPooledBody {
		*bp = body[:0]
		responsePool.Put(bp)
	}
	if err != nil {
		return fail(inferStatus(err), err.Error())
	}
	return info.Version, http.StatusOK
}

// outcomeOf classifies a response status: 2xx ok, 4xx (including 499, the
// client going away) client_error, anything else server_error.
func outcomeOf(status int) monitor.Outcome {
	switch {
	case status < 400:
		return monitor.OK
	case status < 500:
		return monitor.ClientError
	}
	return monitor.ServerError
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
