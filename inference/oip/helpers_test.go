package oip

import (
	"context"
	"testing"

	"github.com/eaglenotifier/talon/inference"
	"github.com/eaglenotifier/talon/inference/internal/ortest"
)

// testCache serves sklearn_randomforest as acme (v1) and example_multitype as
// globex (v3), both from the onnxruntime_go module's test_data.
func testCache(tb testing.TB) *inference.Cache {
	tb.Helper()
	path, err := inference.FindORTLibrary("")
	if err != nil {
		tb.Fatal(err)
	}
	if err := inference.InitRuntime(path); err != nil {
		tb.Fatal(err)
	}
	c := inference.NewCache()
	tb.Cleanup(c.Close)
	for _, m := range []struct {
		file string
		info inference.ModelInfo
	}{
		{"sklearn_randomforest.onnx", inference.ModelInfo{Org: "acme", Version: "v1", Digest: "sha256:" + sixtyFour('a'), ConfigCommit: "1111111"}},
		{"example_multitype.onnx", inference.ModelInfo{Org: "globex", Version: "v3", Digest: "sha256:" + sixtyFour('b'), ConfigCommit: "2222222"}},
	} {
		model, err := inference.LoadModel(context.Background(), ortest.Model(tb, m.file), m.info, inference.LoadOptions{})
		if err != nil {
			tb.Fatal(err)
		}
		c.Swap(m.info.Org, model)
	}
	return c
}

func sixtyFour(c byte) string {
	b := make([]byte, 64)
	for i := range b {
		b[i] = c
	}
	return string(b)
}
