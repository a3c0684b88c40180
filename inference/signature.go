package inference

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrSignatureMismatch is wrapped by Signature.Compare when two signatures differ.
var ErrSignatureMismatch = errors.New("model signature differs")

// TensorSpec describes one input or output of a model.
type TensorSpec struct {
	// Name is the tensor's name in the ONNX graph.
	Name string
	// Datatype is the OIP datatype name (FP32, FP64, INT32, INT64, BOOL, ...).
	Datatype string
	// Shape lists the dimensions; -1 marks a dynamic dimension.
	Shape []int64
}

// String formats the spec as `name FP32 [-1 6]`.
func (t TensorSpec) String() string {
	return fmt.Sprintf("%s %s %v", t.Name, t.Datatype, t.Shape)
}

// Signature is a model's served inputs and outputs, in the model's order.
type Signature struct {
	Inputs, Outputs []TensorSpec
}

// Clone returns a deep copy of s.
func (s Signature) Clone() Signature {
	return Signature{Inputs: cloneSpecs(s.Inputs), Outputs: cloneSpecs(s.Outputs)}
}

func cloneSpecs(in []TensorSpec) []TensorSpec {
	if in == nil {
		return nil
	}
	out := make([]TensorSpec, len(in))
	for i, t := range in {
		out[i] = TensorSpec{Name: t.Name, Datatype: t.Datatype, Shape: slices.Clone(t.Shape)}
	}
	return out
}

// Equal reports whether s and o have the same inputs and outputs: the same names
// with the same datatypes and shapes. Order does not matter (tensors are bound by
// name).
func (s Signature) Equal(o Signature) bool {
	return len(s.diffs(o)) == 0
}

// Compare returns nil when s and o are Equal, and otherwise an error wrapping
// ErrSignatureMismatch that lists every difference from s (the serving model) to
// o (the candidate), such as `input sensors: shape [-1 6] → [-1 5]`.
func (s Signature) Compare(o Signature) error {
	d := s.diffs(o)
	if len(d) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrSignatureMismatch, strings.Join(d, "; "))
}

func (s Signature) diffs(o Signature) []string {
	return append(diffSpecs("input", s.Inputs, o.Inputs), diffSpecs("output", s.Outputs, o.Outputs)...)
}

// diffSpecs describes how the tensors of kind ("input" or "output") changed
// from old to cur, in old's order followed by tensors only cur has.
func diffSpecs(kind string, old, cur []TensorSpec) []string {
	var out []string
	find := func(list []TensorSpec, name string) (TensorSpec, bool) {
		for _, t := range list {
			if t.Name == name {
				return t, true
			}
		}
		return TensorSpec{}, false
	}
	for _, a := range old {
		b, ok := find(cur, a.Name)
		if !ok {
			out = append(out, fmt.Sprintf("%s %s: removed (was %s %v)", kind, a.Name, a.Datatype, a.Shape))
			continue
		}
		if a.Datatype != b.Datatype {
			out = append(out, fmt.Sprintf("%s %s: datatype %s → %s", kind, a.Name, a.Datatype, b.Datatype))
		}
		if !slices.Equal(a.Shape, b.Shape) {
			out = append(out, fmt.Sprintf("%s %s: shape %v → %v", kind, a.Name, a.Shape, b.Shape))
		}
	}
	for _, b := range cur {
		if _, ok := find(old, b.Name); !ok {
			out = append(out, fmt.Sprintf("%s %s: added (%s %v)", kind, b.Name, b.Datatype, b.Shape))
		}
	}
	return out
}
