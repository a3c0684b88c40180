package oip

import (
	"strconv"
	"strings"
	"testing"

	"github.com/eaglenotifier/talon/examples/pdm"
	"github.com/eaglenotifier/talon/inference"
)

// BenchmarkDecode decodes the PdM request (batch 1 and 64) with
// DecodeInferRequest ("fast") and with the decoder before the fast path
// ("legacy", legacy_decode_test.go); compare the two with benchstat.
func BenchmarkDecode(b *testing.B) {
	for _, rows := range []int{1, 64} {
		body := sensorsBody("", pdm.Dataset(5, rows)...)
		for _, d := range []struct {
			name   string
			decode func(string) error
		}{
			{"fast", func(s string) error { _, err := DecodeInferRequest(strings.NewReader(s)); return err }},
			{"legacy", func(s string) error { _, err := legacyDecodeInferRequest(strings.NewReader(s)); return err }},
		} {
			b.Run(d.name+"/rows="+strconv.Itoa(rows), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(body)))
				for b.Loop() {
					if err := d.decode(body); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkEncode builds a PdM infer response by hand ("fast", as served)
// and with json.Marshal as before ("legacy").
func BenchmarkEncode(b *testing.B) {
	p := provenance{Org: "pdm", Version: "v1", Digest: "sha256:" + sixtyFour('a'), ConfigCommit: "c0ffeev1"}
	outs := []inference.Tensor{{Name: "failure_probability", Datatype: "FP32", Shape: []int64{1, 1}, Data: []float32{0.123456}}}
	const id = "3f1c9a2e-8b7d-4c2a-9e1f-0a1b2c3d4e5f"
	buf := make([]byte, 0, 1024)
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = appendInferResponse(buf[:0], "pdm", id, p, outs)
		}
	})
	b.Run("legacy", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = marshalInferResponse("pdm", id, p, outs)
		}
	})
}
