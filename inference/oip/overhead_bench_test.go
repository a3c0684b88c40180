package oip

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eaglenotifier/talon/inference"
)

// BenchmarkHTTPInferVsInProcess alternates, request by request, an OIP infer
// request over loopback HTTP (the server with default options, batch 1, JSON)
// and the same inference in process plus an empty loopback HTTP round trip, so
// both see the same machine load; "p50-ratio" is the OIP p50 ÷ the baseline's
// (goal ≤ 1.3). The difference is what the OIP layer (routing, JSON decode and
// encode, provenance, metrics and feedback bookkeeping) costs.
func BenchmarkHTTPInferVsInProcess(b *testing.B) {
	c := testCache(b)
	srv := httptest.NewServer(NewServer(c, ServerOptions{}))
	defer srv.Close()
	empty := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer empty.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	defer client.CloseIdleConnections()
	in := []inference.Tensor{{Name: "X", Datatype: inference.FP32, Shape: []int64{1, 4}, Data: []float32{6.2, 2.9, 4.3, 1.3}}}
	var oipLat, baseLat []time.Duration
	for b.Loop() {
		start := time.Now()
		resp, err := client.Post(srv.URL+"/v2/models/acme/infer", "application/json", strings.NewReader(benchBody))
		if err != nil {
			b.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"data":[1]`) {
			b.Fatalf("%d %s %v", resp.StatusCode, body, err)
		}
		oipLat = append(oipLat, time.Since(start))

		start = time.Now()
		resp, err = client.Get(empty.URL)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		m, release, ok := c.Acquire("acme")
		if !ok {
			b.Fatal("acme not served")
		}
		out, err := m.Infer(context.Background(), in, nil)
		release()
		if err != nil || out[0].Data.([]int64)[0] != 1 {
			b.Fatal(err)
		}
		baseLat = append(baseLat, time.Since(start))
	}
	p50 := func(d []time.Duration) float64 {
		slices.Sort(d)
		return float64(d[len(d)/2].Nanoseconds())
	}
	o, base := p50(oipLat), p50(baseLat)
	b.ReportMetric(o, "oip-p50-ns")
	b.ReportMetric(base, "base-p50-ns")
	b.ReportMetric(o/base, "p50-ratio")
}
