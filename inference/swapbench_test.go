package inference_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/eaglenotifier/talon/examples/pdm"
	"github.com/eaglenotifier/talon/inference"
	"github.com/eaglenotifier/talon/inference/internal/memstat"
	"github.com/eaglenotifier/talon/inference/oip"
)

// TestHotSwapUnderLoad: OIP clients at half the measured maximum throughput see
// no failed, dropped or wrong answer while the model swaps 100 times (4 MiB
// models; BenchmarkHotSwapUnderLoad runs 64 MiB ones and reports the figures).
func TestHotSwapUnderLoad(t *testing.T) {
	rep := runSwapLoad(t, swapLoad{size: 4 << 20, swaps: 100, gap: 10 * time.Millisecond, steady: 500 * time.Millisecond})
	t.Log(rep)
	if rep.failures.Load() != 0 {
		t.Errorf("%d of %d requests failed; first: %v", rep.failures.Load(), rep.requests, rep.firstFailure)
	}
	if rep.requests < 1000 || rep.swapRequests == 0 {
		t.Errorf("%d requests, %d during swaps: too few to show anything", rep.requests, rep.swapRequests)
	}
}

// BenchmarkHotSwapUnderLoad swaps a 64 MiB model (pdm.ResidentModel, whose
// weights ONNX Runtime keeps in memory) 100 times under OIP clients running at
// half the maximum throughput measured first, and reports swap-window p99 ÷
// steady-state p99 (goal ≤ 1.5) and peak RSS added by a swap ÷ peak RSS added by
// loading one model (goal ≤ 1.1, median and worst swap), plus failures (goal 0).
// A swap window runs from the start of LoadModel to 20 ms after Cache.Swap (the
// old session is destroyed when its last request returns); every request that
// overlaps one counts as a swap request, every other one as steady state.
func BenchmarkHotSwapUnderLoad(b *testing.B) {
	var rep *swapReport
	for b.Loop() {
		rep = runSwapLoad(b, swapLoad{size: 64 << 20, swaps: 100, gap: 100 * time.Millisecond, steady: 2 * time.Second})
	}
	b.Log(rep)
	b.ReportMetric(float64(rep.failures.Load()), "failures")
	b.ReportMetric(float64(rep.swapP99)/float64(rep.steadyP99), "p99-ratio")
	b.ReportMetric(float64(rep.swapP50)/float64(rep.steadyP50), "p50-ratio")
	b.ReportMetric(float64(median(rep.swapPeaks))/float64(rep.loadPeak), "rss-ratio-median")
	b.ReportMetric(float64(slices.Max(rep.swapPeaks))/float64(rep.loadPeak), "rss-ratio-max")
	b.ReportMetric(rep.pacedRPS, "req/s")
}

// swapLoad is one hot-swap-under-load run.
type swapLoad struct {
	size   int           // bytes of each model
	swaps  int           // how many
	gap    time.Duration // steady time between swaps
	steady time.Duration // steady time before the first swap
}

// swapClients is the number of closed-loop clients.
const swapClients = 8

// swapGrace extends a swap window past Cache.Swap, for the old session's drain
// and destruction.
const swapGrace = 20 * time.Millisecond

type swapReport struct {
	maxRPS, pacedRPS                       float64
	requests, swapRequests                 int
	failures                               atomic.Int64
	firstFailure                           error
	steadyP50, steadyP99, swapP50, swapP99 time.Duration
	// loadPeak is the peak RSS added by loading the first model, loaded the
	// RSS it adds once loaded; swapPeaks the peak RSS each swap added.
	loadPeak, loaded int64
	swapPeaks        []int64
	startRSS, endRSS int64 // settled, before the first swap and after the last
}

func (r *swapReport) String() string {
	return fmt.Sprintf("max %.0f req/s, paced %.0f req/s; %d requests (%d during swaps), %d failed; "+
		"p50 %v → %v, p99 %v → %v during swaps; one model adds %.1f MiB (peak while loading %.1f MiB), "+
		"a swap adds %.1f MiB at peak (median; worst %.1f MiB); settled RSS %.1f → %.1f MiB over the swaps",
		r.maxRPS, r.pacedRPS, r.requests, r.swapRequests, r.failures.Load(), r.steadyP50, r.swapP50, r.steadyP99, r.swapP99,
		mib(r.loaded), mib(r.loadPeak), mib(median(r.swapPeaks)), mib(slices.Max(r.swapPeaks)), mib(r.startRSS), mib(r.endRSS))
}

// sample is one request: when it started and ended, since the run's start.
type sample struct{ start, end time.Duration }

type window struct{ start, end time.Duration }

// samplesPerClient is each client's preallocated, pre-faulted sample log, so
// that logging does not add resident memory during the run.
const samplesPerClient = 1 << 17

func runSwapLoad(tb testing.TB, cfg swapLoad) *swapReport {
	tb.Helper()
	initRuntime(tb)
	models := residentModels(tb, cfg.size)
	for i := range models {
		models[i] = offHeap(tb, models[i])
	}
	info := func(i int) inference.ModelInfo {
		return inference.ModelInfo{Org: "acme", Version: fmt.Sprint("v", i%2+1), Digest: fmt.Sprint("sha256:", i)}
	}
	load := func(i int) *inference.Model {
		m, err := inference.LoadModel(context.Background(), models[i%2], info(i), inference.LoadOptions{})
		if err != nil {
			tb.Fatal(err)
		}
		return m
	}
	load(1).Close() // first-load costs of the process are not a model's
	rep := &swapReport{}
	c := inference.NewCache()
	defer c.Close()
	memstat.Settle()
	base := readMem(tb)
	check(tb, memstat.ResetPeak())
	c.Swap("acme", load(0))
	rep.loadPeak = readMem(tb).Peak - base.RSS
	memstat.Settle()
	rep.loaded = readMem(tb).RSS - base.RSS

	srv := httptest.NewServer(oip.NewServer(c, oip.ServerOptions{FeedbackCapacity: -1}))
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: swapClients}}
	defer client.CloseIdleConnections()
	want := map[string]float32{"v1": pdm.Predict(pdm.V1(), typical), "v2": pdm.Predict(pdm.V2(), typical)}
	call := func() error { return inferHTTP(client, srv.URL, want) }

	rep.maxRPS = maxThroughput(tb, call)
	rep.pacedRPS = rep.maxRPS / 2
	interval := time.Duration(float64(time.Second) * swapClients / rep.pacedRPS)

	var stop atomic.Bool
	var wg sync.WaitGroup
	var mu sync.Mutex
	samples := make([][]sample, swapClients)
	for k := range samples {
		buf := make([]sample, samplesPerClient)
		for i := range buf {
			buf[i].start = 1 // touch every page
		}
		samples[k] = buf[:0]
	}
	t0 := time.Now()
	for k := range swapClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := time.Now()
			for !stop.Load() {
				if d := time.Until(next); d > 0 {
					time.Sleep(d)
				}
				start := time.Since(t0)
				err := call()
				samples[k] = append(samples[k], sample{start, time.Since(t0)})
				if err != nil && rep.failures.Add(1) == 1 {
					mu.Lock()
					rep.firstFailure = err
					mu.Unlock()
				}
				if next = next.Add(interval); next.Before(time.Now()) {
					next = time.Now() // behind: no burst to catch up
				}
			}
		}()
	}
	time.Sleep(cfg.steady)
	memstat.Settle()
	rep.startRSS = readMem(tb).RSS
	var windows []window
	for i := 1; i <= cfg.swaps; i++ {
		time.Sleep(cfg.gap)
		check(tb, memstat.ResetPeak())
		before := readMem(tb).RSS
		w := window{start: time.Since(t0)}
		c.Swap("acme", load(i))
		time.Sleep(swapGrace)
		w.end = time.Since(t0)
		windows = append(windows, w)
		rep.swapPeaks = append(rep.swapPeaks, readMem(tb).Peak-before)
	}
	time.Sleep(cfg.gap)
	stop.Store(true)
	wg.Wait()
	memstat.Settle()
	rep.endRSS = readMem(tb).RSS

	var steady, swapping []time.Duration
	for _, s := range slices.Concat(samples...) {
		d := s.end - s.start
		if slices.ContainsFunc(windows, func(w window) bool { return s.start < w.end && s.end > w.start }) {
			swapping = append(swapping, d)
		} else {
			steady = append(steady, d)
		}
	}
	rep.requests, rep.swapRequests = len(steady)+len(swapping), len(swapping)
	rep.steadyP50, rep.steadyP99 = quantile(steady, 0.5), quantile(steady, 0.99)
	rep.swapP50, rep.swapP99 = quantile(swapping, 0.5), quantile(swapping, 0.99)
	return rep
}

// maxThroughput runs the clients unpaced for a second and returns requests/s.
func maxThroughput(tb testing.TB, call func() error) float64 {
	tb.Helper()
	var n atomic.Int64
	var failed atomic.Value
	deadline := time.Now().Add(time.Second)
	var wg sync.WaitGroup
	for range swapClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if err := call(); err != nil {
					failed.Store(err)
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		tb.Fatalf("measuring the maximum throughput: %v", err)
	}
	return float64(n.Load())
}

// inferHTTP sends one OIP infer request of the typical row and checks the
// answer is the probability the answering version computes.
func inferHTTP(c *http.Client, base string, want map[string]float32) error {
	resp, err := c.Post(base+"/v2/models/acme/infer", "application/json", bytes.NewReader(typicalBody))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, body)
	}
	var out struct {
		ModelVersion string `json:"model_version"`
		Outputs      []struct {
			Data []float32 `json:"data"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal(body, &out); err != nil || len(out.Outputs) != 1 || len(out.Outputs[0].Data) != 1 {
		return fmt.Errorf("bad answer %s: %v", body, err)
	}
	p, ok := want[out.ModelVersion]
	if got := out.Outputs[0].Data[0]; !ok || math.Abs(float64(got-p)) > 1e-6 {
		return fmt.Errorf("version %q answered %v, want one of %v", out.ModelVersion, got, want)
	}
	return nil
}

var typicalBody, _ = json.Marshal(map[string]any{"inputs": []map[string]any{{
	"name": pdm.InputName, "datatype": "FP32", "shape": []int{1, pdm.NumFeatures}, "data": typical[:],
}}})

// offHeap copies b into anonymous memory outside the Go heap, so that model
// bytes the test keeps for its whole run do not raise the garbage collector's
// heap target (the reconciler reads them once per swap and drops them).
func offHeap(tb testing.TB, b []byte) []byte {
	tb.Helper()
	m, err := syscall.Mmap(-1, 0, len(b), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		tb.Fatal(err)
	}
	copy(m, b)
	tb.Cleanup(func() { syscall.Munmap(m) })
	return m
}

func readMem(tb testing.TB) memstat.Status {
	tb.Helper()
	s, err := memstat.Read()
	check(tb, err)
	return s
}

func check(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// quantile is the nearest-rank q-quantile of d (0 for none); it sorts d.
func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[max(int(math.Ceil(q*float64(len(d))))-1, 0)]
}

func median(v []int64) int64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
