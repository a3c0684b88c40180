package oip

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/eaglenotifier/talon/inference"
)

type testResponse struct {
	ModelName    string            `json:"model_name"`
	ModelVersion string            `json:"model_version"`
	ID           string            `json:"id"`
	Parameters   map[string]string `json:"parameters"`
	Outputs      []struct {
		Name     string          `json:"name"`
		Datatype string          `json:"datatype"`
		Shape    []int64         `json:"shape"`
		Data     json.RawMessage `json:"data"`
	} `json:"outputs"`
	Error string `json:"error"`
}

func do(t *testing.T, srv *httptest.Server, method, path, body string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	return resp, b
}

func TestInferHappyPath(t *testing.T) {
	srv := httptest.NewServer(NewServer(testCache(t), ServerOptions{}))
	defer srv.Close()
	wantParams := map[string]string{"talon_org": "acme", "talon_model_version": "v1",
		"talon_model_digest": "sha256:" + sixtyFour('a'), "talon_config_commit": "1111111"}
	tests := []struct {
		name, path, body, id string
	}{
		{"nested data", "/v2/models/acme/infer", `{"id":"req-1","inputs":[{"name":"X","shape":[3,4],"datatype":"FP32",
			"data":[[5.1,3.5,1.4,0.2],[6.2,2.9,4.3,1.3],[7.7,3.0,6.1,2.3]]}],"outputs":[{"name":"output_label"}]}`, "req-1"},
		{"flat data, versioned path", "/v2/models/acme/versions/v1/infer", `{"id":"r2","parameters":{"x":1},"inputs":[{"name":"X","shape":[3,4],"datatype":"FP32",
			"data":[5.1,3.5,1.4,0.2,6.2,2.9,4.3,1.3,7.7,3,6.1,2.3],"parameters":{}}]}`, "r2"},
		{"no id", "/v2/models/acme/infer", `{"inputs":[{"name":"X","shape":[3,4],"datatype":"FP32",
			"data":[5.1,3.5,1.4,0.2,6.2,2.9,4.3,1.3,7.7,3,6.1,2.3]}]}`, ""},
	}
	ids := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, srv, "POST", tt.path, tt.body, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			var got testResponse
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			if got.ModelName != "acme" || got.ModelVersion != "v1" {
				t.Errorf("model %q %q", got.ModelName, got.ModelVersion)
			}
			if tt.id != "" && got.ID != tt.id {
				t.Errorf("id %q, want the client's %q", got.ID, tt.id)
			}
			if tt.id == "" && !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(got.ID) {
				t.Errorf("generated id %q is not a random UUID", got.ID)
			}
			ids[got.ID] = true
			if d := cmp.Diff(wantParams, got.Parameters); d != "" {
				t.Errorf("parameters (-want +got):\n%s", d)
			}
			for h, want := range map[string]string{HeaderModelVersion: "v1", HeaderModelDigest: "sha256:" + sixtyFour('a'), HeaderConfigCommit: "1111111"} {
				if resp.Header.Get(h) != want {
					t.Errorf("header %s = %q, want %q", h, resp.Header.Get(h), want)
				}
			}
			if len(got.Outputs) != 1 || got.Outputs[0].Name != "output_label" || got.Outputs[0].Datatype != "INT64" ||
				!cmp.Equal(got.Outputs[0].Shape, []int64{3}) || string(got.Outputs[0].Data) != "[0,1,2]" {
				t.Errorf("outputs %s", body)
			}
		})
	}
	if len(ids) != len(tests) {
		t.Errorf("ids not distinct: %v", ids)
	}
}

func TestInferMultitypeEqualsInProcess(t *testing.T) {
	c := testCache(t)
	srv := httptest.NewServer(NewServer(c, ServerOptions{}))
	defer srv.Close()
	body := `{"inputs":[{"name":"InputA","shape":[1,1,1],"datatype":"UINT8","data":[[[7]]]},
		{"name":"InputB","shape":[1,2,2],"datatype":"FP64","data":[0.5,-1.25,3,100]}]}`
	resp, b := do(t, srv, "POST", "/v2/models/globex/infer", body, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	var got testResponse
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	m, release, ok := c.Acquire("globex")
	if !ok {
		t.Fatal("globex not served")
	}
	defer release()
	want, err := m.Infer(context.Background(), []inference.Tensor{
		{Name: "InputA", Datatype: "UINT8", Shape: []int64{1, 1, 1}, Data: []uint8{7}},
		{Name: "InputB", Datatype: "FP64", Shape: []int64{1, 2, 2}, Data: []float64{0.5, -1.25, 3, 100}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Outputs) != len(want) {
		t.Fatalf("got %d outputs, want %d", len(got.Outputs), len(want))
	}
	for i, w := range want {
		g := got.Outputs[i]
		wantData, _ := json.Marshal(w.Data)
		if g.Name != w.Name || g.Datatype != w.Datatype || !cmp.Equal(g.Shape, w.Shape) || string(g.Data) != string(wantData) {
			t.Errorf("output %d: HTTP %s %s %v %s, in-process %s %s %v %s", i, g.Name, g.Datatype, g.Shape, g.Data, w.Name, w.Datatype, w.Shape, wantData)
		}
	}
}

func TestModelMetadata(t *testing.T) {
	srv := httptest.NewServer(NewServer(testCache(t), ServerOptions{Version: "1.2.3"}))
	defer srv.Close()
	resp, b := do(t, srv, "GET", "/v2/models/acme", "", nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get(HeaderModelVersion) != "v1" {
		t.Fatalf("status %d, version header %q: %s", resp.StatusCode, resp.Header.Get(HeaderModelVersion), b)
	}
	want := `{"name":"acme","versions":["v1"],"platform":"onnxruntime_onnx",` +
		`"inputs":[{"name":"X","datatype":"FP32","shape":[-1,4]}],` +
		`"outputs":[{"name":"output_label","datatype":"INT64","shape":[-1]}],` +
		`"parameters":{"talon_org":"acme","talon_model_version":"v1","talon_model_digest":"sha256:` + sixtyFour('a') + `","talon_config_commit":"1111111"}}` + "\n"
	if d := cmp.Diff(want, string(b)); d != "" {
		t.Errorf("metadata (-want +got):\n%s", d)
	}
	resp, b = do(t, srv, "GET", "/v2", "", nil)
	if resp.StatusCode != http.StatusOK || string(b) != `{"extensions":[],"name":"talon","version":"1.2.3"}`+"\n" {
		t.Errorf("server metadata %d %s", resp.StatusCode, b)
	}
}

func TestHealth(t *testing.T) {
	var ready, broke atomic.Bool
	var panicked atomic.Value
	s := NewServer(testCache(t), ServerOptions{
		Ready: func() bool {
			if ready.Load() && !broke.Swap(true) {
				panic("readiness check broke")
			}
			return ready.Load()
		},
		OnPanic: func(v any) { panicked.Store(v) },
	})
	srv := httptest.NewServer(s)
	defer srv.Close()
	check := func(path string, status int, body string) {
		t.Helper()
		resp, b := do(t, srv, "GET", path, "", nil)
		if resp.StatusCode != status || string(b) != body+"\n" {
			t.Errorf("GET %s = %d %s, want %d %s", path, resp.StatusCode, b, status, body)
		}
	}
	check("/v2/health/live", 200, `{"live":true}`)
	check("/v2/health/ready", 503, `{"ready":false}`)
	check("/v2/models/acme/ready", 200, `{"name":"acme","ready":true}`)
	check("/v2/models/globex/versions/v3/ready", 200, `{"name":"globex","ready":true}`)
	check("/v2/models/globex/versions/v2/ready", 404, `{"error":"model \"globex\" version \"v2\" is not served (serving \"v3\")"}`)
	check("/v2/models/initech/ready", 404, `{"error":"model \"initech\" is not served"}`)
	ready.Store(true)
	check("/v2/health/ready", 500, `{"error":"internal error"}`)
	if s.Panics() != 1 || panicked.Load() != "readiness check broke" {
		t.Errorf("Panics() = %d, OnPanic got %v", s.Panics(), panicked.Load())
	}
	check("/v2/health/ready", 200, `{"ready":true}`)
	if NewServer(inference.NewCache(), ServerOptions{}).opts.Ready() != true {
		t.Error("default Ready is not true")
	}
}

func TestInferErrors(t *testing.T) {
	srv := httptest.NewServer(NewServer(testCache(t), ServerOptions{MaxBodyBytes: 4096}))
	defer srv.Close()
	x := func(shape, data string) string {
		return `{"inputs":[{"name":"X","shape":` + shape + `,"datatype":"FP32","data":` + data + `}]}`
	}
	multi := func(a, b string) string {
		return `{"inputs":[{"name":"InputA","shape":[1,1,1],"datatype":"UINT8","data":` + a + `},` +
			`{"name":"InputB","shape":[1,2,2],"datatype":"FP64","data":` + b + `}]}`
	}
	big := x("[300,4]", "["+strings.Repeat("1.25,", 1199)+"1.25]")
	tests := []struct {
		name, method, path, body string
		hdr                      map[string]string
		status                   int
		contains                 string
	}{
		{"bad JSON", "POST", "/v2/models/acme/infer", `{"inputs":[`, nil, 400, "empty or truncated"},
		{"syntax", "POST", "/v2/models/acme/infer", `{"inputs":}`, nil, 400, "invalid JSON"},
		{"empty body", "POST", "/v2/models/acme/infer", ``, nil, 400, "empty"},
		{"trailing", "POST", "/v2/models/acme/infer", x("[1,4]", "[1,2,3,4]") + `{}`, nil, 400, "after the request"},
		{"no inputs", "POST", "/v2/models/acme/infer", `{"inputs":[]}`, nil, 400, "no inputs"},
		{"id not a string", "POST", "/v2/models/acme/infer", `{"id":5,"inputs":[]}`, nil, 400, `"id"`},
		{"wrong name", "POST", "/v2/models/acme/infer", `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`, nil, 400, `input "x": the model has no such input`},
		{"wrong shape", "POST", "/v2/models/acme/infer", x("[1,5]", "[1,2,3,4,5]"), nil, 400, "shape [1 5] does not match the model's [-1 4]"},
		{"wrong datatype", "POST", "/v2/models/acme/infer", `{"inputs":[{"name":"X","shape":[1,4],"datatype":"FP64","data":[1,2,3,4]}]}`, nil, 400, "datatype FP64, the model expects FP32"},
		{"unserved datatype", "POST", "/v2/models/acme/infer", `{"inputs":[{"name":"X","shape":[1,4],"datatype":"FP16","data":[1,2,3,4]}]}`, nil, 400, `datatype "FP16" is not served`},
		{"short data", "POST", "/v2/models/acme/infer", x("[2,4]", "[1,2,3,4]"), nil, 400, "data has 4 elements, shape [2 4] needs 8"},
		{"ragged nested", "POST", "/v2/models/acme/infer", x("[2,4]", "[[1,2,3,4],[1,2,3]]"), nil, 400, "dimension 1"},
		{"FP32 overflow", "POST", "/v2/models/acme/infer", x("[1,4]", "[1,2,3,1e39]"), nil, 400, "1e39 is out of range for FP32"},
		{"string element", "POST", "/v2/models/acme/infer", x("[1,4]", `[1,2,3,"4"]`), nil, 400, "string"},
		{"UINT8 fraction", "POST", "/v2/models/globex/infer", multi("[1.5]", "[1,2,3,4]"), nil, 400, "1.5 is not an integer (UINT8)"},
		{"UINT8 range", "POST", "/v2/models/globex/infer", multi("[256]", "[1,2,3,4]"), nil, 400, "256 is out of range for UINT8"},
		{"UINT8 negative", "POST", "/v2/models/globex/infer", multi("[-1]", "[1,2,3,4]"), nil, 400, "-1 is out of range for UINT8"},
		{"missing input", "POST", "/v2/models/globex/infer", `{"inputs":[{"name":"InputA","shape":[1,1,1],"datatype":"UINT8","data":[1]}]}`, nil, 400, `input "InputB": missing`},
		{"unknown output", "POST", "/v2/models/acme/infer", `{"inputs":[{"name":"X","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}],"outputs":[{"name":"output_probability"}]}`, nil, 400, "serves no such output"},
		{"binary extension", "POST", "/v2/models/acme/infer", x("[1,4]", "[1,2,3,4]"), map[string]string{"Inference-Header-Content-Length": "10"}, 400, "binary tensor data extension"},
		{"binary parameter", "POST", "/v2/models/acme/infer", `{"inputs":[{"name":"X","shape":[1,4],"datatype":"FP32","parameters":{"binary_data_size":16}}]}`, nil, 400, "binary_data_size"},
		{"too large", "POST", "/v2/models/acme/infer", big, nil, 413, "too large"},
		{"unknown org", "POST", "/v2/models/initech/infer", x("[1,4]", "[1,2,3,4]"), nil, 404, `model "initech" is not served`},
		{"other version", "POST", "/v2/models/acme/versions/v2/infer", x("[1,4]", "[1,2,3,4]"), nil, 404, `version "v2" is not served (serving "v1")`},
		{"unknown org metadata", "GET", "/v2/models/initech", "", nil, 404, "not served"},
		{"GET infer", "GET", "/v2/models/acme/infer", "", nil, 405, "method not allowed"},
		{"POST metadata", "POST", "/v2/models/acme", "{}", nil, 405, "method not allowed"},
		{"unknown route", "GET", "/v2/repository/index", "", nil, 404, "no route"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := do(t, srv, tt.method, tt.path, tt.body, tt.hdr)
			var e struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(b, &e); err != nil {
				t.Fatalf("body is not JSON: %s", b)
			}
			if resp.StatusCode != tt.status || !strings.Contains(e.Error, tt.contains) {
				t.Fatalf("status %d, error %q; want %d containing %q", resp.StatusCode, e.Error, tt.status, tt.contains)
			}
			if tt.status == 405 && resp.Header.Get("Allow") == "" {
				t.Error("405 without an Allow header")
			}
		})
	}
}
