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

	"github.com/eaglenotifier/talon/examples/pdm"
	"github.com/eaglenotifier/talon/inference"
	"github.com/eaglenotifier/talon/inference/metrics"
	"github.com/eaglenotifier/talon/inference/monitor"
)

// BenchmarkHTTPInferVsInProcess alternates, request by request, an OIP infer
// request over loopback HTTP (batch 1, JSON) and the same inference in process
// plus an empty loopback HTTP round trip, so both see the same machine load;
// "p50-ratio" is the OIP p50 ÷ the baseline's (goal ≤ 1.3). The difference is
// what the OIP layer (routing, JSON decode and encode, provenance, metrics and
// feedback bookkeeping) costs. Sub-benchmarks: "sklearn" is the onnxruntime_go
// random forest with default options, "pdm" the PdM model
// (testdata/pdm/pdm-v1.onnx) with default options, "pdm-daemon" the PdM model
// with what `talon run` enables (metrics, monitor and feedback, its memory
// full as on a busy server).
func BenchmarkHTTPInferVsInProcess(b *testing.B) {
	c := testCache(b)
	c.Swap("pdm", loadPDM(b, "pdm-v1.onnx", "pdm", "v1"))
	x := pdm.Dataset(5, 1)[0].X
	mon := monitor.New(monitor.Options{})
	daemon := NewServer(c, ServerOptions{Monitor: mon, Metrics: metrics.New(metrics.Options{Cache: c, Monitor: mon})})
	now := time.Now()
	for i := range DefaultFeedbackCapacity {
		daemon.preds.remember("pdm", newID(), "v1", []int64{int64(i % 2)}, unscorable{}, now)
	}
	for _, v := range []struct {
		name, org, body, want string
		srv                   *Server
		in                    inference.Tensor
	}{
		{"sklearn", "acme", benchBody, `"data":[1]`, NewServer(c, ServerOptions{}),
			inference.Tensor{Name: "X", Datatype: inference.FP32, Shape: []int64{1, 4}, Data: []float32{6.2, 2.9, 4.3, 1.3}}},
		{"pdm", "pdm", sensorsBody("", pdm.Dataset(5, 1)...), `"data":[`, NewServer(c, ServerOptions{}),
			inference.Tensor{Name: pdm.InputName, Datatype: inference.FP32, Shape: []int64{1, 6}, Data: x[:]}},
		{"pdm-daemon", "pdm", sensorsBody("", pdm.Dataset(5, 1)...), `"data":[`, daemon,
			inference.Tensor{Name: pdm.InputName, Datatype: inference.FP32, Shape: []int64{1, 6}, Data: x[:]}},
	} {
		b.Run(v.name, func(b *testing.B) {
			srv := httptest.NewServer(v.srv)
			defer srv.Close()
			empty := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			defer empty.Close()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
			defer client.CloseIdleConnections()
			overhead(b, client, srv.URL+"/v2/models/"+v.org+"/infer", v.body, v.want, empty.URL, func() {
				m, release, ok := c.Acquire(v.org)
				if !ok {
					b.Fatalf("%s not served", v.org)
				}
				_, err := m.Infer(context.Background(), []inference.Tensor{v.in}, nil)
				release()
				if err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// overhead runs the alternating measurement of BenchmarkHTTPInferVsInProcess.
func overhead(b *testing.B, client *http.Client, url, body, want, emptyURL string, infer func()) {
	var oipLat, baseLat []time.Duration
	for b.Loop() {
		start := time.Now()
		resp, err := client.Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(got), want) {
			b.Fatalf("%d %s %v", resp.StatusCode, got, err)
		}
		oipLat = append(oipLat, time.Since(start))

		start = time.Now()
		resp, err = client.Get(emptyURL)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		infer()
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
