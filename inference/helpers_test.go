package inference

import (
	"context"
	"testing"

	"github.com/eaglenotifier/talon/inference/internal/ortest"
)

// initORT loads the ONNX Runtime library found the way Talon finds it.
func initORT(tb testing.TB) {
	tb.Helper()
	path, err := FindORTLibrary("")
	if err != nil {
		tb.Fatal(err)
	}
	if err := InitRuntime(path); err != nil {
		tb.Fatal(err)
	}
}

// loadTestModel loads test_data/name from the onnxruntime_go module.
func loadTestModel(tb testing.TB, name string, info ModelInfo) *Model {
	tb.Helper()
	initORT(tb)
	m, err := LoadModel(context.Background(), ortest.Model(tb, name), info, LoadOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// irisRows returns n rows of four iris-like features for sklearn_randomforest.
func irisRows(n int) []float32 {
	base := [][4]float32{
		{5.1, 3.5, 1.4, 0.2}, {6.2, 2.9, 4.3, 1.3}, {7.7, 3.0, 6.1, 2.3},
		{4.9, 3.1, 1.5, 0.1}, {5.9, 3.0, 5.1, 1.8}, {5.6, 2.7, 4.2, 1.3},
	}
	out := make([]float32, 0, 4*n)
	for i := 0; i < n; i++ {
		r := base[i%len(base)]
		out = append(out, r[:]...)
	}
	return out
}
