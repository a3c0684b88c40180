package oip

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/eaglenotifier/talon/examples/pdm"
	"github.com/eaglenotifier/talon/inference"
	"github.com/eaglenotifier/talon/inference/internal/ortest"
)

// Feedback scores each prediction by the first output of the model that made
// it, across swaps between models with different outputs.
func TestFeedbackFollowsSwaps(t *testing.T) {
	srv, _, c := pdmServer(t, ServerOptions{})
	iris := inference.ModelInfo{Org: "pdm", Version: "v9", Digest: "sha256:" + sixtyFour('9'), ConfigCommit: "9999999"}
	swapIris := func() {
		m, err := inference.LoadModel(t.Context(), ortest.Model(t, "sklearn_randomforest.onnx"), iris, inference.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		c.Swap("pdm", m)
	}
	inferIris := func(id string) {
		// output_label (INT64 [N]) is the random forest's first output: class 2.
		resp, b := do(t, srv, "POST", "/v2/models/pdm/infer", `{"id":"`+id+`","inputs":[{"name":"X","shape":[1,4],"datatype":"FP32","data":[7.7,3.0,6.1,2.3]}]}`, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
	}
	sample := pdm.Dataset(3, 1)[0]
	_, p1 := inferPDM(t, srv, "pdm-1", sample)
	swapIris()
	inferIris("iris-1")
	c.Swap("pdm", loadPDM(t, "pdm-v2.onnx", "pdm", "v2"))
	_, p2 := inferPDM(t, srv, "pdm-2", sample)
	swapIris()
	inferIris("iris-2")
	for _, tt := range []struct {
		id, version string
		predicted   int64
	}{
		{"pdm-1", "v1", classOf(p1[0], DefaultThreshold)},
		{"iris-1", "v9", 2},
		{"pdm-2", "v2", classOf(p2[0], DefaultThreshold)},
		{"iris-2", "v9", 2},
	} {
		status, r := postFeedback(t, srv, "pdm", `{"id":"`+tt.id+`","label":1}`)
		if status != 200 || r.ModelVersion != tt.version || !cmp.Equal(r.Predicted, []int64{tt.predicted}) {
			t.Errorf("%s: %d %+v, want version %s predicted %d", tt.id, status, r, tt.version, tt.predicted)
		}
	}
}

// A model closed while still in the cache (a misuse) is not served; the
// request counts under the org and version, as it did when the handler asked
// Cache.Get first.
func TestInferClosedModelInCache(t *testing.T) {
	srv, _, c := pdmServer(t, ServerOptions{})
	m, release, ok := c.Acquire("pdm")
	if !ok {
		t.Fatal("pdm not served")
	}
	release()
	m.Close()
	resp, b := do(t, srv, "POST", "/v2/models/pdm/infer", sensorsBody("", pdm.Dataset(3, 1)...), nil)
	if resp.StatusCode != 404 || !strings.Contains(string(b), `model \"pdm\" is not served`) {
		t.Errorf("%d %s, want 404 not served", resp.StatusCode, b)
	}
	fams := scrape(t, srv)
	if got := value(fams, "talon_inference_requests_total", map[string]string{"org": "pdm", "version": "v1", "outcome": "client_error"}); got != 1 {
		t.Errorf("requests{pdm,v1,client_error} = %v, want 1", got)
	}
	if got := value(fams, "talon_inference_unknown_model_requests_total", nil); got != 0 {
		t.Errorf("unknown model requests = %v, want 0", got)
	}
}
