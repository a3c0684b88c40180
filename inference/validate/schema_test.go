package validate_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/eaglenotifier/talon/inference"
	"github.com/eaglenotifier/talon/inference/validate"
)

func TestCheckSchema(t *testing.T) {
	spec := func(name, dt string, shape ...int64) inference.TensorSpec {
		return inference.TensorSpec{Name: name, Datatype: dt, Shape: shape}
	}
	declared := inference.Signature{
		Inputs:  []inference.TensorSpec{spec("x", "FP32", -1, 6), spec("mask", "BOOL", -1)},
		Outputs: []inference.TensorSpec{spec("p", "FP32", -1, 1)},
	}
	tests := []struct {
		name  string
		model inference.Signature
		want  []string
	}{
		{"same, other order", inference.Signature{
			Inputs:  []inference.TensorSpec{spec("mask", "BOOL", -1), spec("x", "FP32", -1, 6)},
			Outputs: []inference.TensorSpec{spec("p", "FP32", -1, 1)},
		}, nil},
		{"fixed batch, datatype, missing and extra", inference.Signature{
			Inputs:  []inference.TensorSpec{spec("x", "FP64", 1, 6), spec("extra", "INT64", 3)},
			Outputs: []inference.TensorSpec{spec("p", "FP32", -1, 1)},
		}, []string{
			`input "x": datatype FP64, declared FP32`,
			`input "x": shape [1 6], declared [-1 6]`,
			`input "mask": declared BOOL [-1], the model has no such input`,
			`input "extra": the model has INT64 [3], the schema does not declare it`,
		}},
		{"output shape", inference.Signature{
			Inputs:  declared.Inputs,
			Outputs: []inference.TensorSpec{spec("p", "FP32", -1, 2)},
		}, []string{`output "p": shape [-1 2], declared [-1 1]`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, validate.CheckSchema(declared, tt.model)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
