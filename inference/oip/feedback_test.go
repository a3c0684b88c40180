package oip

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eaglenotifier/talon/examples/pdm"
	"github.com/eaglenotifier/talon/inference"
	"github.com/eaglenotifier/talon/inference/metrics"
	"github.com/eaglenotifier/talon/inference/monitor"
)

// loadPDM loads testdata/pdm/<file> as org's version.
func loadPDM(tb testing.TB, file, org, version string) *inference.Model {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "pdm", file))
	if err != nil {
		tb.Fatal(err)
	}
	m, err := inference.LoadModel(context.Background(), b, inference.ModelInfo{Org: org, Version: version,
		Digest: "sha256:" + sixtyFour(version[1]), ConfigCommit: "c0ffee" + version}, inference.LoadOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// pdmServer serves the sklearn/multitype test models (acme, globex) plus the
// PdM model v1 as org "pdm", with metrics and a monitor.
func pdmServer(tb testing.TB, opts ServerOptions) (*httptest.Server, *Server, *inference.Cache) {
	tb.Helper()
	c := testCache(tb)
	c.Swap("pdm", loadPDM(tb, "pdm-v1.onnx", "pdm", "v1"))
	if opts.Monitor == nil {
		opts.Monitor = monitor.New(monitor.Options{})
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.New(metrics.Options{Cache: c, Monitor: opts.Monitor})
	}
	s := NewServer(c, opts)
	srv := httptest.NewServer(s)
	tb.Cleanup(srv.Close)
	return srv, s, c
}

func sensorsBody(id string, rows ...pdm.Sample) string {
	var data []string
	for _, r := range rows {
		data = append(data, strings.Trim(strings.Join(strings.Fields(fmt.Sprint(r.X)), ","), "[]"))
	}
	idField := ""
	if id != "" {
		idField = `"id":` + fmt.Sprintf("%q", id) + ","
	}
	return fmt.Sprintf(`{%s"inputs":[{"name":"sensors","datatype":"FP32","shape":[%d,6],"data":[%s]}]}`, idField, len(rows), strings.Join(data, ","))
}

// inferPDM infers rows on org pdm and returns the response id and probabilities.
func inferPDM(t *testing.T, srv *httptest.Server, id string, rows ...pdm.Sample) (string, []float32) {
	t.Helper()
	resp, b := do(t, srv, "POST", "/v2/models/pdm/infer", sensorsBody(id, rows...), nil)
	var got testResponse
	if err := json.Unmarshal(b, &got); err != nil || resp.StatusCode != 200 || len(got.Outputs) != 1 {
		t.Fatalf("infer: %d %s %v", resp.StatusCode, b, err)
	}
	var probs []float32
	if err := json.Unmarshal(got.Outputs[0].Data, &probs); err != nil {
		t.Fatal(err)
	}
	return got.ID, probs
}

type feedbackReply struct {
	feedbackResponse
	Error string `json:"error"`
}

func postFeedback(t *testing.T, srv *httptest.Server, org, body string) (int, feedbackReply) {
	t.Helper()
	resp, b := do(t, srv, "POST", "/v2/models/"+org+"/feedback", body, nil)
	var r feedbackReply
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("feedback reply is not JSON: %s", b)
	}
	return resp.StatusCode, r
}

func classOf(p float32, threshold float64) int64 {
	if float64(p) >= threshold {
		return 1
	}
	return 0
}

func TestFeedbackFlow(t *testing.T) {
	srv, s, _ := pdmServer(t, ServerOptions{})
	data := pdm.Dataset(7, 4)
	_, probs := inferPDM(t, srv, "r1", data[0])
	want := classOf(probs[0], DefaultThreshold)
	batchID, batchProbs := inferPDM(t, srv, "", data[1:]...)
	batchPred := []int64{classOf(batchProbs[0], 0.5), classOf(batchProbs[1], 0.5), classOf(batchProbs[2], 0.5)}

	type reply struct {
		Status            int
		Version           string
		Rows, Correct     int
		Predicted, Actual []int64
		WindowFeedback    int64
	}
	tests := []struct {
		name, org, body string
		want            reply
		errContains     string
	}{
		{"right label", "pdm", `{"id":"r1","label":` + fmt.Sprint(want) + `}`,
			reply{Status: 200, Version: "v1", Rows: 1, Correct: 1, Predicted: []int64{want}, Actual: []int64{want}, WindowFeedback: 1}, ""},
		{"again", "pdm", `{"id":"r1","label":0}`, reply{Status: 409}, "already given"},
		{"unknown id", "pdm", `{"id":"nope","label":0}`, reply{Status: 404}, `no prediction "nope" of model "pdm"`},
		{"other org", "acme", `{"id":"r1","label":0}`, reply{Status: 404}, "no prediction"},
		{"batch with one label", "pdm", `{"id":"` + batchID + `","label":1}`, reply{Status: 400}, "has 3 rows, the feedback gives 1 labels"},
		{"batch", "pdm", `{"id":"` + batchID + `","labels":[true,0,1.0]}`,
			reply{Status: 200, Version: "v1", Rows: 3, Correct: countEqual(batchPred, []int64{1, 0, 1}), Predicted: batchPred, Actual: []int64{1, 0, 1}, WindowFeedback: 4}, ""},
		{"no id", "pdm", `{"label":1}`, reply{Status: 400}, `needs "id"`},
		{"no label", "pdm", `{"id":"x"}`, reply{Status: 400}, "exactly one of"},
		{"two labels", "pdm", `{"id":"x","label":1,"actual":1}`, reply{Status: 400}, "exactly one of"},
		{"bad label", "pdm", `{"id":"x","label":"yes"}`, reply{Status: 400}, "class number"},
		{"fractional label", "pdm", `{"id":"x","label":0.5}`, reply{Status: 400}, "class number"},
		{"typo", "pdm", `{"id":"x","lable":1}`, reply{Status: 400}, "unknown field"},
		{"trailing", "pdm", `{"id":"x","label":1}{}`, reply{Status: 400}, "after the feedback"},
		{"too large", "pdm", `{"id":"x","labels":[` + strings.Repeat("1,", 40000) + `1]}`, reply{Status: 413}, "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, r := postFeedback(t, srv, tt.org, tt.body)
			got := reply{Status: status, Version: r.ModelVersion, Rows: r.Rows, Correct: r.Correct, Predicted: r.Predicted, Actual: r.Actual}
			if r.WindowFeedback != nil {
				got.WindowFeedback = *r.WindowFeedback
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("reply (-want +got):\n%s\nerror: %s", diff, r.Error)
			}
			if !strings.Contains(r.Error, tt.errContains) {
				t.Errorf("error %q does not contain %q", r.Error, tt.errContains)
			}
		})
	}
	if got := s.Threshold("pdm"); got != DefaultThreshold {
		t.Errorf("Threshold = %v, want the default %v", got, DefaultThreshold)
	}
}

func countEqual(a, b []int64) int {
	n := 0
	for i := range a {
		if a[i] == b[i] {
			n++
		}
	}
	return n
}

// A threshold set for the org decides the class of later predictions.
func TestFeedbackThreshold(t *testing.T) {
	srv, s, _ := pdmServer(t, ServerOptions{})
	sample := pdm.Dataset(11, 1)[0]
	_, probs := inferPDM(t, srv, "before", sample)
	p := float64(probs[0])
	for _, bad := range []float64{-0.1, 1.5} {
		if err := s.SetThreshold("pdm", bad); err == nil {
			t.Errorf("SetThreshold(%v) succeeded", bad)
		}
	}
	// A threshold just above the probability flips class 1 to 0, just below
	// flips 0 to 1.
	flipped := min(1, p+1e-3)
	if classOf(probs[0], 0.5) == 0 {
		flipped = max(0, p-1e-3)
	}
	if err := s.SetThreshold("pdm", flipped); err != nil {
		t.Fatal(err)
	}
	inferPDM(t, srv, "after", sample)
	for id, want := range map[string]int64{"before": classOf(probs[0], 0.5), "after": classOf(probs[0], flipped)} {
		status, r := postFeedback(t, srv, "pdm", `{"id":"`+id+`","actual":0}`)
		if status != 200 || !cmp.Equal(r.Predicted, []int64{want}) {
			t.Errorf("%s: status %d predicted %v, want %d (p=%v, threshold %v)", id, status, r.Predicted, want, p, flipped)
		}
	}
	if classOf(probs[0], 0.5) == classOf(probs[0], flipped) {
		t.Fatalf("threshold %v does not flip p=%v", flipped, p)
	}
}

func TestFeedbackScoring(t *testing.T) {
	srv, _, _ := pdmServer(t, ServerOptions{})
	// acme's first output is output_label (INT64 [N]): the class itself.
	resp, b := do(t, srv, "POST", "/v2/models/acme/infer", `{"id":"iris","inputs":[{"name":"X","shape":[2,4],"datatype":"FP32","data":[5.1,3.5,1.4,0.2,7.7,3.0,6.1,2.3]}]}`, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	status, r := postFeedback(t, srv, "acme", `{"id":"iris","labels":[0,1]}`)
	if status != 200 || !cmp.Equal(r.Predicted, []int64{0, 2}) || r.Correct != 1 {
		t.Errorf("acme label output: %d %+v", status, r)
	}
	// globex's first output has several integers per row: not scorable.
	resp, b = do(t, srv, "POST", "/v2/models/globex/infer", `{"id":"multi","inputs":[{"name":"InputA","shape":[1,1,1],"datatype":"UINT8","data":[7]},
		{"name":"InputB","shape":[1,2,2],"datatype":"FP64","data":[0.5,-1.25,3,100]}]}`, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	if status, r := postFeedback(t, srv, "globex", `{"id":"multi","label":1}`); status != 422 || !strings.Contains(r.Error, "cannot be scored") {
		t.Errorf("globex: %d %q, want 422", status, r.Error)
	}
}

func TestClassesOf(t *testing.T) {
	tests := []struct {
		name string
		t    inference.Tensor
		want []int64
		why  string
	}{
		{"probability", inference.Tensor{Shape: []int64{3, 1}, Data: []float32{0.2, 0.5, 0.9}}, []int64{0, 1, 1}, ""},
		{"probability rank 1", inference.Tensor{Shape: []int64{2}, Data: []float64{0.49, 0.51}}, []int64{0, 1}, ""},
		{"two probabilities", inference.Tensor{Shape: []int64{2, 2}, Data: []float32{0.7, 0.3, 0.4, 0.6}}, []int64{0, 1}, ""},
		{"argmax", inference.Tensor{Shape: []int64{2, 3}, Data: []float32{0.1, 0.7, 0.2, 0.5, 0.2, 0.3}}, []int64{1, 0}, ""},
		{"labels", inference.Tensor{Shape: []int64{3}, Data: []int32{2, 0, 1}}, []int64{2, 0, 1}, ""},
		{"bools", inference.Tensor{Shape: []int64{2, 1}, Data: []bool{true, false}}, []int64{1, 0}, ""},
		{"scalar", inference.Tensor{Shape: []int64{}, Data: []float32{0.8}}, []int64{1}, ""},
		{"many ints", inference.Tensor{Name: "y", Datatype: inference.INT64, Shape: []int64{1, 2}, Data: []int64{1, 2}}, nil, "2 INT64 values per row"},
		{"too many rows", inference.Tensor{Shape: []int64{65, 1}, Data: make([]float32, 65)}, nil, "at most 64"},
		{"empty", inference.Tensor{Name: "y", Shape: []int64{0, 1}, Data: []float32{}}, nil, "is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, u := classesOf(nil, tt.t, 0.5, DefaultFeedbackMaxRows)
			why := ""
			if u.code != scorable {
				why = u.String()
			}
			if !cmp.Equal(tt.want, got) || !strings.Contains(why, tt.why) || (tt.why == "") != (why == "") {
				t.Errorf("classesOf = %v, %q; want %v, %q", got, why, tt.want, tt.why)
			}
		})
	}
}

func TestFeedbackExpiredEvictedDisabled(t *testing.T) {
	expiring, _, _ := pdmServer(t, ServerOptions{FeedbackTTL: 1}) // 1ns: gone by the next request
	inferPDM(t, expiring, "old", pdm.Dataset(1, 1)...)
	if status, r := postFeedback(t, expiring, "pdm", `{"id":"old","label":1}`); status != 404 || !strings.Contains(r.Error, "expired") {
		t.Errorf("expired: %d %q", status, r.Error)
	}

	small, _, _ := pdmServer(t, ServerOptions{FeedbackCapacity: predictionShards}) // one per shard
	sample := pdm.Dataset(2, 1)[0]
	for i := range 200 {
		inferPDM(t, small, fmt.Sprint("id-", i), sample)
	}
	if status, r := postFeedback(t, small, "pdm", `{"id":"id-0","label":1}`); status != 404 || !strings.Contains(r.Error, "evicted") {
		t.Errorf("evicted: %d %q", status, r.Error)
	}
	if status, r := postFeedback(t, small, "pdm", `{"id":"id-199","label":1}`); status != 200 {
		t.Errorf("latest: %d %q", status, r.Error)
	}

	off, _, _ := pdmServer(t, ServerOptions{FeedbackCapacity: -1})
	inferPDM(t, off, "x", sample)
	if status, r := postFeedback(t, off, "pdm", `{"id":"x","label":1}`); status != 404 || !strings.Contains(r.Error, "disabled") {
		t.Errorf("disabled: %d %q", status, r.Error)
	}
}

// The ring forgets exactly the oldest entries and a re-used id replaces its
// prediction without shortening the others' lives.
func TestPredictionsRing(t *testing.T) {
	p := newPredictions(predictionShards*4, DefaultFeedbackTTL)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	// Find ids of one shard.
	var ids []string
	target, _ := p.shard("acme", "seed", true)
	for i := 0; len(ids) < 6; i++ {
		id := fmt.Sprint("id-", i)
		if s, _ := p.shard("acme", id, true); s == target {
			ids = append(ids, id)
		}
	}
	for _, id := range ids[:4] {
		p.remember("acme", id, "v1", []int64{1}, unscorable{}, now)
	}
	p.remember("acme", ids[1], "v2", []int64{0, 1}, unscorable{}, now) // replaces; evicts ids[0]
	if _, err := p.get("acme", ids[0], now); err != errNoPrediction {
		t.Errorf("oldest id after overflow: %v, want errNoPrediction", err)
	}
	got, err := p.get("acme", ids[1], now)
	if err != nil || got.version != "v2" || !cmp.Equal(got.classes, []int64{0, 1}) {
		t.Errorf("replaced id: %+v %v", got, err)
	}
	p.remember("acme", ids[4], "v1", nil, unscorable{code: emptyOutput}, now) // evicts the stale slot of ids[1]: a no-op
	if got, err := p.get("acme", ids[1], now); err != nil || !cmp.Equal(got.classes, []int64{0, 1}) {
		t.Errorf("replaced id lost to its stale slot: %+v %v", got, err)
	}
	if got, err := p.get("acme", ids[4], now); err != nil || got.classes != nil || !strings.Contains(got.why, "empty") {
		t.Errorf("unscorable: %+v %v", got, err)
	}
	e, _ := p.get("acme", ids[2], now)
	stale := e
	stale.at++
	if err := p.answer("acme", ids[2], stale); err != errNoPrediction {
		t.Errorf("answer for another prediction in the slot: %v", err)
	}
	if err := p.answer("acme", ids[2], e); err != nil {
		t.Fatal(err)
	}
	if err := p.answer("acme", ids[2], e); err != errAnswered {
		t.Errorf("second answer: %v, want errAnswered", err)
	}
	if _, err := p.get("acme", ids[2], now); err != errAnswered {
		t.Errorf("get after answer: %v, want errAnswered", err)
	}
	if _, err := p.get("acme", ids[3], now.Add(DefaultFeedbackTTL+1)); err != errExpired {
		t.Errorf("get after the TTL: %v, want errExpired", err)
	}
	if _, err := p.get("globex", ids[3], now); err != errNoPrediction {
		t.Errorf("other org: %v", err)
	}
}

// Concurrent infers and feedback lose nothing: every prediction is scored once.
func TestFeedbackConcurrent(t *testing.T) {
	srv, _, _ := pdmServer(t, ServerOptions{})
	const workers, each = 8, 25
	data := pdm.Dataset(21, workers*each)
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			for i := range each {
				n := w*each + i
				body := sensorsBody(fmt.Sprint("c-", n), data[n])
				resp, err := srv.Client().Post(srv.URL+"/v2/models/pdm/infer", "application/json", strings.NewReader(body))
				if err == nil {
					resp.Body.Close()
					resp, err = srv.Client().Post(srv.URL+"/v2/models/pdm/feedback", "application/json",
						strings.NewReader(fmt.Sprintf(`{"id":"c-%d","label":%d}`, n, data[n].Label)))
				}
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("feedback c-%d: status %d", n, resp.StatusCode)
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	_, b := do(t, srv, "GET", "/talon/v1/orgs/pdm/monitoring", "", nil)
	var got MonitoringJSON
	if err := json.Unmarshal(b, &got); err != nil || got.Current == nil || got.Current.Feedback != workers*each || got.Current.Samples != workers*each {
		t.Fatalf("monitoring after %d predictions with feedback: %s", workers*each, b)
	}
}
