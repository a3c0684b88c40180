package pdm

import (
	"testing"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/eaglenotifier/talon/inference"
)

// initORT loads the real ONNX Runtime (process-wide, idempotent).
func initORT(t testing.TB) {
	t.Helper()
	path, err := inference.FindORTLibrary("")
	if err != nil {
		t.Fatal(err)
	}
	if err := inference.InitRuntime(path); err != nil {
		t.Fatal(err)
	}
}

// session loads model into a new ONNX Runtime session, destroyed when t ends.
func session(t testing.TB, model []byte) *ort.DynamicAdvancedSession {
	t.Helper()
	initORT(t)
	s, err := ort.NewDynamicAdvancedSessionWithONNXData(model, []string{InputName}, []string{OutputName}, nil)
	if err != nil {
		t.Fatalf("load model: %v", err)
	}
	t.Cleanup(func() { s.Destroy() })
	return s
}

// runORT runs rows (each of width cols) through s and returns one probability per row.
func runORT(t testing.TB, s *ort.DynamicAdvancedSession, cols int, rows [][]float32) []float32 {
	t.Helper()
	flat := make([]float32, 0, len(rows)*cols)
	for _, r := range rows {
		flat = append(flat, r...)
	}
	in, err := ort.NewTensor(ort.NewShape(int64(len(rows)), int64(cols)), flat)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Destroy()
	out, err := ort.NewEmptyTensor[float32](ort.NewShape(int64(len(rows)), 1))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Destroy()
	if err := s.Run([]ort.Value{in}, []ort.Value{out}); err != nil {
		t.Fatalf("run: %v", err)
	}
	return append([]float32(nil), out.GetData()...)
}

// predictORT runs samples through model in one batch.
func predictORT(t testing.TB, model []byte, samples []Sample) []float32 {
	t.Helper()
	rows := make([][]float32, len(samples))
	for i := range samples {
		rows[i] = samples[i].X[:]
	}
	return runORT(t, session(t, model), NumFeatures, rows)
}

func mustModel(t testing.TB, w Weights) []byte {
	t.Helper()
	b, err := Model(w)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
