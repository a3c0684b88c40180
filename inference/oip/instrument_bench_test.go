package oip

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eaglenotifier/talon/examples/pdm"
	"github.com/eaglenotifier/talon/inference"
	"github.com/eaglenotifier/talon/inference/metrics"
	"github.com/eaglenotifier/talon/inference/monitor"
)

// BenchmarkInstrumentation measures what metrics and the monitor
// ("metrics+monitor"), and those plus the prediction memory for feedback
// ("all"), add to an infer request of the PdM model (testdata/pdm/pdm-v1.onnx)
// at batch 1. Each iteration sends one request to a plain server (no metrics,
// no monitor, feedback disabled) and one to an instrumented one, alternating
// which goes first, so both see the same machine load; it reports both medians
// and their ratio (medians shrug off preemption on a busy machine) and the
// ratio of the means. "handler" calls ServeHTTP directly (the tightest
// measure: no network), "http" goes over loopback as a client would.
func BenchmarkInstrumentation(b *testing.B) {
	c := inference.NewCache()
	b.Cleanup(c.Close)
	initRuntime(b)
	c.Swap("pdm", loadPDM(b, "pdm-v1.onnx", "pdm", "v1"))
	plain := NewServer(c, ServerOptions{FeedbackCapacity: -1})
	for _, v := range []struct {
		name     string
		feedback int
	}{{"metrics+monitor", -1}, {"all", 0}} {
		mon := monitor.New(monitor.Options{})
		full := NewServer(c, ServerOptions{Monitor: mon, Metrics: metrics.New(metrics.Options{Cache: c, Monitor: mon}), FeedbackCapacity: v.feedback})
		b.Run(v.name, func(b *testing.B) { benchPair(b, plain, full) })
	}
}

func benchPair(b *testing.B, plain, full *Server) {
	body := sensorsBody("", pdm.Dataset(5, 1)...)
	if full.preds != nil { // the steady state of a busy server: the memory is full
		now := time.Now()
		for i := range DefaultFeedbackCapacity {
			full.preds.remember("pdm", newID(), "v1", []int64{int64(i % 2)}, unscorable{}, now)
		}
	}
	b.Run("handler", func(b *testing.B) {
		serve := func(h http.Handler) time.Duration {
			req := httptest.NewRequest("POST", "/v2/models/pdm/infer", strings.NewReader(body))
			w := httptest.NewRecorder()
			start := time.Now()
			h.ServeHTTP(w, req)
			d := time.Since(start)
			if w.Code != http.StatusOK {
				b.Fatalf("%d %s", w.Code, w.Body)
			}
			return d
		}
		alternate(b, func() time.Duration { return serve(plain) }, func() time.Duration { return serve(full) })
	})
	b.Run("http", func(b *testing.B) {
		ps, fs := httptest.NewServer(plain), httptest.NewServer(full)
		defer ps.Close()
		defer fs.Close()
		post := func(srv *httptest.Server) time.Duration {
			start := time.Now()
			resp, err := srv.Client().Post(srv.URL+"/v2/models/pdm/infer", "application/json", strings.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			d := time.Since(start)
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("status %d", resp.StatusCode)
			}
			return d
		}
		alternate(b, func() time.Duration { return post(ps) }, func() time.Duration { return post(fs) })
	})
}

func alternate(b *testing.B, plain, full func() time.Duration) {
	for range 200 { // warm both paths: connections, caches, the org's series
		plain()
		full()
	}
	var tp, tf []time.Duration
	var sp, sf time.Duration
	for b.Loop() {
		var p, f time.Duration
		if len(tp)%2 == 0 {
			p, f = plain(), full()
		} else {
			f, p = full(), plain()
		}
		tp, tf = append(tp, p), append(tf, f)
		sp, sf = sp+p, sf+f
	}
	slices.Sort(tp)
	slices.Sort(tf)
	mp, mf := tp[len(tp)/2], tf[len(tf)/2]
	b.ReportMetric(float64(mp.Nanoseconds()), "plain-p50-ns")
	b.ReportMetric(float64(mf.Nanoseconds()), "instr-p50-ns")
	b.ReportMetric(float64(mf)/float64(mp), "p50-ratio")
	b.ReportMetric(float64(sf)/float64(sp), "mean-ratio")
}

func initRuntime(tb testing.TB) {
	tb.Helper()
	path, err := inference.FindORTLibrary("")
	if err != nil {
		tb.Fatal(err)
	}
	if err := inference.InitRuntime(path); err != nil {
		tb.Fatal(err)
	}
}
