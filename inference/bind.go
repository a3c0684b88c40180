package inference

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"

	ort "github.com/yalue/onnxruntime_go"
)

// A call into ONNX Runtime through cgo costs far more than the work around it
// for a small model, and letting ONNX Runtime allocate an output costs about ten
// such calls (onnxruntime_go then inspects the value and copies it into a Go
// buffer). So when a model's output shapes follow from the batch size, Infer
// binds outputs it allocated itself, from sets of values pooled per batch size
// (pool.go): a set's outputs are reused run after run, and for small requests
// the set also holds the inputs, the request being copied in (one cgo call per
// inference). Infer copies the outputs out of the set; InferFunc lends them.
// The prediction is checked when the model is loaded and again by every run
// (ONNX Runtime rejects a preallocated output of the wrong shape); a wrong
// prediction turns the plan off for good and Infer falls back to letting ONNX
// Runtime allocate.

// ioPlan is how Infer preallocates a model's outputs.
type ioPlan struct {
	in, out []TensorSpec
	// copyable: every input has a rank and no dynamic dimension but the first,
	// so that a set can hold copies of a request's inputs.
	copyable bool
	off      atomic.Bool
	sets     setPools
}

// newPlan returns the plan for sig, or nil when an output shape does not follow
// from the batch size (the first dimension of the inputs whose first dimension
// is dynamic).
func newPlan(sig Signature) *ioPlan {
	p := &ioPlan{in: sig.Inputs, out: sig.Outputs, copyable: true}
	batched := false
	for _, s := range sig.Inputs {
		if len(s.Shape) == 0 || slices.ContainsFunc(s.Shape[1:], func(d int64) bool { return d < 0 }) {
			p.copyable = false
		}
		batched = batched || (len(s.Shape) > 0 && s.Shape[0] < 0)
	}
	for _, s := range sig.Outputs {
		if len(s.Shape) == 0 || slices.ContainsFunc(s.Shape[1:], func(d int64) bool { return d <= 0 }) ||
			s.Shape[0] == 0 || (s.Shape[0] < 0 && !batched) {
			return nil
		}
	}
	p.sets.init()
	return p
}

// batch returns the batch size of a request (in bound to the signature by order)
// and false when inputs with a dynamic first dimension disagree on it.
func (p *ioPlan) batch(in []Tensor, order []int) (int64, bool) {
	b := int64(-1)
	for i, s := range p.in {
		if len(s.Shape) == 0 || s.Shape[0] >= 0 {
			continue
		}
		switch d := in[order[i]].Shape[0]; {
		case b < 0:
			b = d
		case d != b:
			return 0, false
		}
	}
	return max(b, 1), true
}

func shapeFor(s TensorSpec, batch int64) []int64 {
	shape := slices.Clone(s.Shape)
	if shape[0] < 0 {
		shape[0] = batch
	}
	return shape
}

func elems(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return n
}

// inferPlanned runs a validated request with preallocated outputs. It returns
// ok false when the plan does not apply, so Infer takes the general path. When
// set is not nil, res is lent from it: the caller returns it with put after use.
func (m *Model) inferPlanned(ctx context.Context, in []Tensor, order, pick []int) (res []Tensor, set *ioSet, ok bool, err error) {
	p := m.plan
	if p == nil || p.off.Load() {
		return nil, nil, false, nil
	}
	b, ok := p.batch(in, order)
	if !ok {
		return nil, nil, false, nil
	}
	if set = p.sets.get(p, m.sess, b); set != nil {
		if err := m.runSet(ctx, set, in, order); err != nil {
			p.sets.put(set)
			return nil, nil, true, err
		}
		return set.lend(pick), set, true, nil
	}
	res, err = m.runFresh(ctx, in, order, pick, b)
	return res, nil, true, err
}

// runSet runs the request in a pooled set, copying the inputs in or wrapping
// them for the run.
func (m *Model) runSet(ctx context.Context, set *ioSet, in []Tensor, order []int) error {
	if set.copyIn {
		for i, k := range order {
			copyData(set.inData[i], in[k].Data)
		}
		return m.run(ctx, elements(in[order[0]].Shape), set.in, set.out, set.own.binding)
	}
	defer func() {
		destroyAll(set.in)
		clear(set.in)
	}()
	for i, k := range order {
		v, err := newValue(in[k].Shape, in[k].Data)
		if err != nil {
			return fmt.Errorf("input %q: %w", in[k].Name, err)
		}
		set.in[i] = v
	}
	return m.run(ctx, elements(in[order[0]].Shape), set.in, set.out, nil)
}

// runFresh runs the request with outputs in fresh buffers, for a batch size
// that has no pool.
func (m *Model) runFresh(ctx context.Context, in []Tensor, order, pick []int, b int64) ([]Tensor, error) {
	p := m.plan
	var inArr, outArr [4]ort.Value
	inVals, outVals := valueSlice(&inArr, len(order)), valueSlice(&outArr, len(p.out))
	defer destroyAll(inVals)
	defer destroyAll(outVals)
	for i, k := range order {
		v, err := newValue(in[k].Shape, in[k].Data)
		if err != nil {
			return nil, fmt.Errorf("input %q: %w", in[k].Name, err)
		}
		inVals[i] = v
	}
	outs := make([]Tensor, len(p.out))
	for k, s := range p.out {
		shape := shapeFor(s, b)
		data, err := MakeData(s.Datatype, int(elems(shape)))
		if err != nil {
			return nil, err
		}
		if outVals[k], err = newValue(shape, data); err != nil {
			return nil, err
		}
		outs[k] = Tensor{Name: s.Name, Datatype: s.Datatype, Shape: shape, Data: data}
	}
	if err := m.run(ctx, elements(in[order[0]].Shape), inVals, outVals, nil); err != nil {
		return nil, err
	}
	if isIdentity(pick) && len(pick) == len(outs) {
		return outs, nil
	}
	res := make([]Tensor, len(pick))
	for j, k := range pick {
		res[j] = outs[k]
	}
	return res, nil
}

// valueSlice returns n values, in arr when they fit.
func valueSlice(arr *[4]ort.Value, n int) []ort.Value {
	if n <= len(arr) {
		return arr[:n]
	}
	return make([]ort.Value, n)
}

func isIdentity(pick []int) bool {
	for i, k := range pick {
		if i != k {
			return false
		}
	}
	return true
}

// ownedCopy returns a copy of lent outputs that the caller owns: fresh data and
// shapes (the shapes share one allocation).
func ownedCopy(lent []Tensor) []Tensor {
	n := 0
	for _, t := range lent {
		n += len(t.Shape)
	}
	dims := make([]int64, 0, n)
	res := make([]Tensor, len(lent))
	for j, t := range lent {
		start := len(dims)
		dims = append(dims, t.Shape...)
		res[j] = Tensor{Name: t.Name, Datatype: t.Datatype, Shape: dims[start:len(dims):len(dims)], Data: cloneData(t.Data)}
	}
	return res
}
