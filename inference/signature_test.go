package inference

import (
	"errors"
	"testing"
)

func TestSignatureCompare(t *testing.T) {
	base := Signature{
		Inputs:  []TensorSpec{{Name: "sensors", Datatype: FP32, Shape: []int64{-1, 6}}, {Name: "site", Datatype: INT64, Shape: []int64{-1, 1}}},
		Outputs: []TensorSpec{{Name: "p", Datatype: FP32, Shape: []int64{-1, 1}}},
	}
	tests := []struct {
		name string
		edit func(*Signature)
		want string
	}{
		{"equal", func(*Signature) {}, ""},
		{"reordered inputs", func(s *Signature) { s.Inputs[0], s.Inputs[1] = s.Inputs[1], s.Inputs[0] }, ""},
		{"shape", func(s *Signature) { s.Inputs[0].Shape = []int64{-1, 5} },
			"model signature differs: input sensors: shape [-1 6] → [-1 5]"},
		{"datatype", func(s *Signature) { s.Outputs[0].Datatype = FP64 },
			"model signature differs: output p: datatype FP32 → FP64"},
		{"removed and added", func(s *Signature) { s.Inputs = s.Inputs[:1]; s.Outputs[0].Name = "prob" },
			"model signature differs: input site: removed (was INT64 [-1 1]); output p: removed (was FP32 [-1 1]); output prob: added (FP32 [-1 1])"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			other := base.Clone()
			tt.edit(&other)
			err := base.Compare(other)
			if tt.want == "" {
				if err != nil || !base.Equal(other) {
					t.Fatalf("Compare = %v, Equal = %v; want equal", err, base.Equal(other))
				}
				return
			}
			if err == nil || err.Error() != tt.want || !errors.Is(err, ErrSignatureMismatch) || base.Equal(other) {
				t.Fatalf("Compare = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestSignatureCloneIsDeep(t *testing.T) {
	s := Signature{Inputs: []TensorSpec{{Name: "x", Datatype: FP32, Shape: []int64{-1, 4}}}}
	c := s.Clone()
	c.Inputs[0].Shape[1] = 5
	if s.Inputs[0].Shape[1] != 4 {
		t.Fatal("Clone shares shape slices")
	}
}
