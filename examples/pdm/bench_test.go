package pdm

import (
	"fmt"
	"testing"

	ort "github.com/yalue/onnxruntime_go"
)

// BenchmarkLoadPadded measures generating and loading a padded model in ONNX Runtime,
// against the unpadded model as the baseline in the same run.
func BenchmarkLoadPadded(b *testing.B) {
	initORT(b)
	for _, size := range []int{0, 8 << 20, 64 << 20} {
		model := mustModel(b, V1())
		if size > 0 {
			var err error
			if model, err = ModelWithPadding(V1(), size); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(fmt.Sprintf("encode/%dMiB", size>>20), func(b *testing.B) {
			b.SetBytes(int64(len(model)))
			for b.Loop() {
				if size == 0 {
					mustModel(b, V1())
				} else if _, err := ModelWithPadding(V1(), size); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("load/%dMiB", size>>20), func(b *testing.B) {
			b.SetBytes(int64(len(model)))
			for b.Loop() {
				s, err := ort.NewDynamicAdvancedSessionWithONNXData(model, []string{InputName}, []string{OutputName}, nil)
				if err != nil {
					b.Fatal(err)
				}
				s.Destroy()
			}
		})
	}
}
