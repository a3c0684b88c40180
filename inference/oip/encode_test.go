package oip

import (
	"encoding/json"
	"math"
	"net/http"
	"net/textproto"
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/eaglenotifier/talon/inference"
)

// marshalInferResponse is the response as the server wrote it before
// it was built by hand: json.Marshal for everything but the data.
func marshalInferResponse(org, id string, p provenance, outs []inference.Tensor) []byte {
	j := func(b []byte, v any) []byte {
		m, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		return append(b, m...)
	}
	b := j([]byte(`{"model_name":`), org)
	b = j(append(b, `,"model_version":`...), p.Version)
	b = j(append(b, `,"id":`...), id)
	b = j(append(b, `,"parameters":`...), p)
	b = append(b, `,"outputs":[`...)
	for i, t := range outs {
		b = j(append(comma(b, i), `{"name":`...), t.Name)
		b = j(append(b, `,"datatype":`...), t.Datatype)
		b = j(append(b, `,"shape":`...), t.Shape)
		b = append(appendData(append(b, `,"data":`...), t.Data), '}')
	}
	return append(b, "]}\n"...)
}

func TestInferResponseMatchesMarshal(t *testing.T) {
	p := provenance{Org: "acme", Version: "v1.2.3", Digest: "sha256:" + sixtyFour('c'), ConfigCommit: "0123abc"}
	odd := []string{"", `quote " and \ backslash`, "<html> & co", "tab\tnew\nline\x00\x1f", "é ✓ 😀", "bad \xff\xfe utf-8",
		"line\u2028para\u2029", "\x7f del", "plain-ascii_0123"}
	outs := []inference.Tensor{
		{Name: "probabilities", Datatype: "FP32", Shape: []int64{2, 2}, Data: []float32{0.25, 0.75, float32(math.NaN()), float32(math.Inf(-1))}},
		{Name: "label", Datatype: "INT64", Shape: []int64{2}, Data: []int64{math.MinInt64, 7}},
		{Name: "scalar", Datatype: "BOOL", Shape: []int64{}, Data: []bool{true}},
		{Name: "no shape", Datatype: "FP64", Shape: nil, Data: []float64{1e21}},
	}
	tests := []struct {
		name, org, id string
		p             provenance
		outs          []inference.Tensor
	}{
		{"usual", "acme", "3f1c9a2e-8b7d-4c2a-9e1f-0a1b2c3d4e5f", p, outs[:1]},
		{"every form", "acme", "id", p, outs},
		{"no outputs", "acme", "id", p, nil},
	}
	for i, s := range odd {
		q := p
		q.Version, q.Digest, q.ConfigCommit = s, s+"d", s+"c"
		out := outs[0]
		out.Name, out.Datatype = s, s+"t"
		tests = append(tests, struct {
			name, org, id string
			p             provenance
			outs          []inference.Tensor
		}{"odd " + string(rune('a'+i)), s + "o", s, q, []inference.Tensor{out}})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := appendInferResponse(nil, tt.org, tt.id, tt.p, tt.outs)
			want := marshalInferResponse(tt.org, tt.id, tt.p, tt.outs)
			if string(got) != string(want) {
				t.Errorf("got  %s\nwant %s", got, want)
			}
			var g, w any
			if err := json.Unmarshal(got, &g); err != nil {
				t.Fatalf("%s: %v", got, err)
			}
			if err := json.Unmarshal(want, &w); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(w, g); d != "" {
				t.Errorf("parsed (-want +got):\n%s", d)
			}
		})
	}
}

// Every byte, alone in a string, is written as json.Marshal writes it.
func TestAppendStringEveryByte(t *testing.T) {
	for c := range 256 {
		s := "a" + string([]byte{byte(c)}) + "b"
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); string(got) != string(want) {
			t.Errorf("byte %#x: got %s, want %s", c, got, want)
		}
	}
}

// writeBody and provenanceOf set header values by map key, which needs the
// canonical spelling.
func TestHeaderNamesCanonical(t *testing.T) {
	for _, h := range []string{HeaderModelVersion, HeaderModelDigest, HeaderConfigCommit, "Content-Type", "Content-Length"} {
		if c := textproto.CanonicalMIMEHeaderKey(h); c != h {
			t.Errorf("%q is not canonical (%q)", h, c)
		}
	}
	w := &headerRecorder{h: http.Header{}}
	writeBody(w, http.StatusTeapot, []byte("12345"))
	provenanceOf(w, inference.ModelInfo{Version: "v", Digest: "d", ConfigCommit: "c"})
	want := http.Header{"Content-Type": {"application/json"}, "Content-Length": {"5"},
		HeaderModelVersion: {"v"}, HeaderModelDigest: {"d"}, HeaderConfigCommit: {"c"}}
	if d := cmp.Diff(want, w.h); d != "" {
		t.Errorf("headers (-want +got):\n%s", d)
	}
	if w.status != http.StatusTeapot || string(w.body) != "12345" {
		t.Errorf("status %d body %q", w.status, w.body)
	}
}

type headerRecorder struct {
	h      http.Header
	status int
	body   []byte
}

func (w *headerRecorder) Header() http.Header { return w.h }
func (w *headerRecorder) WriteHeader(s int)   { w.status = s }
func (w *headerRecorder) Write(b []byte) (int, error) {
	w.body = append(w.body, b...)
	return len(b), nil
}

func TestNewID(t *testing.T) {
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := make(map[string]bool)
	for range 3 * len(entropy{}.b) / 16 { // several refills of the entropy buffer
		id := newID()
		if !uuid.MatchString(id) {
			t.Fatalf("%q is not a random UUID", id)
		}
		if seen[id] {
			t.Fatalf("%q twice", id)
		}
		seen[id] = true
	}
}
