package pdm

import (
	"bytes"
	"testing"
)

// TestSlowModelSameOutputs: the slow model computes exactly what Model computes,
// in ONNX Runtime, row for row.
func TestSlowModelSameOutputs(t *testing.T) {
	data := Dataset(ValidationSeed, 200)
	for _, w := range []Weights{V1(), Poor()} {
		slow, err := SlowModel(w, 3)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(slow, mustModel(t, w)) {
			t.Fatal("SlowModel returned Model's bytes")
		}
		got := predictORT(t, slow, data)
		want := predictORT(t, mustModel(t, w), data)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("v%d row %d: slow model gives %v, Model gives %v", w.Version, i, got[i], want[i])
			}
		}
	}
}

// TestResidentModelSameOutputs: the resident model computes exactly what Model
// computes and is about the size asked for.
func TestResidentModelSameOutputs(t *testing.T) {
	data := Dataset(ValidationSeed, 200)
	for _, size := range []int{4096, 1 << 20} {
		b, err := ResidentModel(V2(), size)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) < size || len(b) > size+2048 {
			t.Errorf("size %d: %d bytes", size, len(b))
		}
		got := predictORT(t, b, data)
		want := predictORT(t, mustModel(t, V2()), data)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("size %d row %d: resident model gives %v, Model gives %v", size, i, got[i], want[i])
			}
		}
	}
	if _, err := ResidentModel(V1(), 4095); err == nil {
		t.Error("ResidentModel accepted 4095 bytes")
	}
}

func TestSlowModelRejects(t *testing.T) {
	bad := V1()
	bad.Scale[0] = 0
	for name, tt := range map[string]struct {
		w      Weights
		layers int
	}{"no layers": {V1(), 0}, "zero scale": {bad, 2}} {
		if _, err := SlowModel(tt.w, tt.layers); err == nil {
			t.Errorf("%s: SlowModel succeeded", name)
		}
	}
}
