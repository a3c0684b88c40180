package reconciler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/eaglenotifier/talon/examples/pdm"
	"github.com/eaglenotifier/talon/inference/oip"
)

// TestHotSwapUnderLoad: clients keep calling the OIP infer endpoint while the config repo
// flips acme between v1 and v2 fifty times. No request fails, every answer comes from v1
// or v2, and each answer's probability is the one its labelled version computes.
func TestHotSwapUnderLoad(t *testing.T) {
	w := newWorld(t)
	w.push("acme", "v1", "pdm-v1.onnx")
	w.push("acme", "v2", "pdm-v2.onnx")
	w.desire("acme v1", map[string]string{"acme": "v1"})
	r, cache, _ := w.reconciler("")
	ctx := context.Background()
	if err := r.ReconcileOnce(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(oip.NewServer(cache, oip.ServerOptions{}))
	defer srv.Close()
	want := map[string]float32{"v1": expect(pdm.V1()), "v2": expect(pdm.V2())}
	body, _ := json.Marshal(map[string]any{"inputs": []map[string]any{{
		"name": pdm.InputName, "datatype": "FP32", "shape": []int{1, pdm.NumFeatures}, "data": typical[:],
	}}})

	var stop atomic.Bool
	var ok atomic.Int64
	seen := sync.Map{}
	failures := make(chan error, 64)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{}
			for !stop.Load() {
				if err := call(client, srv.URL, body, want, &seen); err != nil {
					failures <- err
					return
				}
				ok.Add(1)
			}
		}()
	}
	for i := range 50 {
		tag := []string{"v2", "v1"}[i%2]
		w.desire(fmt.Sprintf("acme %s (%d)", tag, i), map[string]string{"acme": tag})
		if err := r.ReconcileOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if s := r.Status()["acme"]; !s.Applied {
			t.Fatalf("swap %d to %s not applied: %v", i, tag, s.Err)
		}
	}
	stop.Store(true)
	wg.Wait()
	close(failures)
	for err := range failures {
		t.Error(err)
	}
	for _, v := range []string{"v1", "v2"} {
		if _, hit := seen.Load(v); !hit {
			t.Errorf("no answer from %s in %d requests", v, ok.Load())
		}
	}
	t.Logf("%d requests during 50 swaps, all answered", ok.Load())
}

func call(c *http.Client, base string, body []byte, want map[string]float32, seen *sync.Map) error {
	resp, err := c.Post(base+"/v2/models/acme/infer", "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("infer: %s: %s", resp.Status, b)
	}
	var out struct {
		ModelVersion string `json:"model_version"`
		Outputs      []struct {
			Data []float32 `json:"data"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal(b, &out); err != nil || len(out.Outputs) != 1 || len(out.Outputs[0].Data) != 1 {
		return fmt.Errorf("bad answer %s: %v", b, err)
	}
	p, known := want[out.ModelVersion]
	if !known || !near(out.Outputs[0].Data[0], p) {
		return fmt.Errorf("answer labelled %q has p=%v, want one of %v", out.ModelVersion, out.Outputs[0].Data[0], want)
	}
	seen.Store(out.ModelVersion, true)
	return nil
}
