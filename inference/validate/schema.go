package validate

import (
	"fmt"
	"slices"

	"github.com/eaglenotifier/talon/inference"
)

// CheckSchema compares a model's signature with the declared one and returns one
// message per difference, or nil when they match. They match when both have the
// same inputs and the same outputs by name (order does not matter), each with the
// same datatype and shape; -1 in a declared shape means a dynamic dimension and
// matches only a dynamic dimension of the model (a model with a fixed batch of 1
// does not satisfy a declared [-1, 6]).
func CheckSchema(declared, model inference.Signature) []string {
	return append(checkSpecs("input", declared.Inputs, model.Inputs), checkSpecs("output", declared.Outputs, model.Outputs)...)
}

func checkSpecs(kind string, declared, model []inference.TensorSpec) []string {
	var out []string
	find := func(list []inference.TensorSpec, name string) (inference.TensorSpec, bool) {
		for _, t := range list {
			if t.Name == name {
				return t, true
			}
		}
		return inference.TensorSpec{}, false
	}
	for _, d := range declared {
		m, ok := find(model, d.Name)
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%s %q: declared %s %v, the model has no such %s", kind, d.Name, d.Datatype, d.Shape, kind))
			continue
		case m.Datatype != d.Datatype:
			out = append(out, fmt.Sprintf("%s %q: datatype %s, declared %s", kind, d.Name, m.Datatype, d.Datatype))
		}
		if !slices.Equal(normShape(m.Shape), normShape(d.Shape)) {
			out = append(out, fmt.Sprintf("%s %q: shape %v, declared %v", kind, d.Name, m.Shape, d.Shape))
		}
	}
	for _, m := range model {
		if _, ok := find(declared, m.Name); !ok {
			out = append(out, fmt.Sprintf("%s %q: the model has %s %v, the schema does not declare it", kind, m.Name, m.Datatype, m.Shape))
		}
	}
	return out
}

// normShape maps every negative dimension to -1.
func normShape(s []int64) []int64 {
	out := slices.Clone(s)
	for i, d := range out {
		if d < 0 {
			out[i] = -1
		}
	}
	return out
}
