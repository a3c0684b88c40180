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

// BenchmarkHTTPInfer measures an OIP infer request (batch 1, JSON) over a
// loopback connection; BenchmarkInProcessPlusEmptyHTTP measures the same
// inference in process plus an empty loopback HTTP round trip: the difference
// is what the OIP layer (routing, JSON decode and encode) costs. Both report
// p50 and p99 latency.

const benchBody = `{"id":"b","inputs":[{"name":"X","shape":[1,4],"datatype":"FP32","data":[[6.2,2.9,4.3,1.3]]}]}`

func BenchmarkHTTPInfer(b *testing.B) {
	srv := httptest.NewServer(NewServer(testCache(b), ServerOptions{}))
	defer srv.Close()
	client := srv.Client()
	url := srv.URL + "/v2/models/acme/infer"
	lat := make([]time.Duration, 0, 1<<16)
	for b.Loop() {
		start := time.Now()
		resp, err := client.Post(url, "application/json", strings.NewReader(benchBody))
		if err != nil {
			b.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"data":[1]`) {
			b.Fatalf("%d %s %v", resp.StatusCode, body, err)
		}
		lat = append(lat, time.Since(start))
	}
	reportLatency(b, lat)
}

func BenchmarkInProcessPlusEmptyHTTP(b *testing.B) {
	c := testCache(b)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	client := srv.Client()
	in := []inference.Tensor{{Name: "X", Datatype: inference.FP32, Shape: []int64{1, 4}, Data: []float32{6.2, 2.9, 4.3, 1.3}}}
	lat := make([]time.Duration, 0, 1<<16)
	for b.Loop() {
		start := time.Now()
		resp, err := client.Get(srv.URL)
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
		lat = append(lat, time.Since(start))
	}
	reportLatency(b, lat)
}

func reportLatency(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	if len(lat) == 0 {
		return
	}
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}
