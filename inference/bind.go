package inference

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	ort "github.com/yalue/onnxruntime_go"
)

// A call into ONNX Runtime through cgo costs far more than the work around it
// for a small model, and letting ONNX Runtime allocate an output costs about ten
// such calls (onnxruntime_go then inspects the value and copies it into a Go
// buffer). So when a model's output shapes follow from the batch size, Infer
// binds outputs it allocated itself, and for small batches it reuses whole sets
// of input and output values from a pool, copying the request in and the result
// out: one cgo call per inference. The prediction is checked when the model is
// loaded and again by every run (ONNX Runtime rejects a preallocated output of
// the wrong shape); a wrong prediction turns the plan off for good and Infer
// falls back to letting ONNX Runtime allocate.

// maxPooledBatch is the largest batch whose values are pooled; maxPooledElems
// bounds the elements of one pooled set, so copying stays cheaper than a cgo call.
const (
	maxPooledBatch = 8
	maxPooledElems = 4096
)

// ioPlan is how Infer preallocates a model's outputs.
type ioPlan struct {
	in, out  []TensorSpec
	poolable bool // every input is [-1, fixed…]
	off      atomic.Bool
	pools    [maxPooledBatch]sync.Pool // *ioSet by batch size - 1
}

// newPlan returns the plan for sig, or nil when an output shape does not follow
// from the batch size (the first dimension of the inputs whose first dimension
// is dynamic).
func newPlan(sig Signature) *ioPlan {
	p := &ioPlan{in: sig.Inputs, out: sig.Outputs, poolable: true}
	batched := false
	for _, s := range sig.Inputs {
		if len(s.Shape) == 0 || s.Shape[0] >= 0 || slices.ContainsFunc(s.Shape[1:], func(d int64) bool { return d < 0 }) {
			p.poolable = false
		}
		batched = batched || (len(s.Shape) > 0 && s.Shape[0] < 0)
	}
	for _, s := range sig.Outputs {
		if len(s.Shape) == 0 || slices.ContainsFunc(s.Shape[1:], func(d int64) bool { return d <= 0 }) ||
			s.Shape[0] == 0 || (s.Shape[0] < 0 && !batched) {
			return nil
		}
	}
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
// ok false when the plan does not apply, so Infer takes the general path.
func (m *Model) inferPlanned(ctx context.Context, in []Tensor, order, pick []int) (res []Tensor, ok bool, err error) {
	p := m.plan
	if p == nil || p.off.Load() {
		return nil, false, nil
	}
	b, ok := p.batch(in, order)
	if !ok {
		return nil, false, nil
	}
	if p.poolable && b <= maxPooledBatch {
		if set := p.get(b); set != nil {
			res, err = m.runSet(ctx, set, in, order, pick, b)
			p.pools[b-1].Put(set)
			return res, true, err
		}
	}
	inVals := make([]ort.Value, len(order))
	outVals := make([]ort.Value, len(p.out))
	outData := make([]any, len(p.out))
	defer destroyAll(inVals)
	defer destroyAll(outVals)
	for i, k := range order {
		if inVals[i], err = newValue(in[k].Shape, in[k].Data); err != nil {
			return nil, true, err
		}
	}
	for k, s := range p.out {
		if outData[k], err = MakeData(s.Datatype, int(elems(shapeFor(s, b)))); err != nil {
			return nil, true, err
		}
		if outVals[k], err = newValue(shapeFor(s, b), outData[k]); err != nil {
			return nil, true, err
		}
	}
	if err := m.run(ctx, inVals, outVals); err != nil {
		return nil, true, err
	}
	res = make([]Tensor, len(pick))
	for j, k := range pick {
		res[j] = Tensor{Name: p.out[k].Name, Datatype: p.out[k].Datatype, Shape: shapeFor(p.out[k], b), Data: outData[k]}
	}
	return res, true, nil
}

// runSet copies the request into a pooled set, runs it and copies the outputs out.
func (m *Model) runSet(ctx context.Context, set *ioSet, in []Tensor, order, pick []int, b int64) ([]Tensor, error) {
	for i, k := range order {
		copyData(set.inData[i], in[k].Data)
	}
	if err := m.run(ctx, set.in, set.out); err != nil {
		return nil, err
	}
	res := make([]Tensor, len(pick))
	for j, k := range pick {
		s := m.plan.out[k]
		res[j] = Tensor{Name: s.Name, Datatype: s.Datatype, Shape: shapeFor(s, b), Data: cloneData(set.outData[k])}
	}
	return res, nil
}

// ioSet is a reusable set of input and output values of one batch size over Go
// buffers. A cleanup destroys its values once the set is garbage.
type ioSet struct {
	in, out         []ort.Value
	inData, outData []any
}

// get returns a pooled set for batch b, or nil when one would be too large.
func (p *ioPlan) get(b int64) *ioSet {
	if set, ok := p.pools[b-1].Get().(*ioSet); ok {
		return set
	}
	var n int64
	for _, s := range slices.Concat(p.in, p.out) {
		n += elems(shapeFor(s, b))
	}
	if n > maxPooledElems {
		return nil
	}
	set := &ioSet{}
	vals, err := set.fill(p, b)
	if err != nil {
		destroyAll(vals)
		return nil
	}
	runtime.AddCleanup(set, destroyAll, vals)
	return set
}

// fill allocates the set's buffers and values and returns every value made.
func (set *ioSet) fill(p *ioPlan, b int64) ([]ort.Value, error) {
	var vals []ort.Value
	add := func(s TensorSpec, data *[]any, values *[]ort.Value) error {
		shape := shapeFor(s, b)
		d, err := MakeData(s.Datatype, int(elems(shape)))
		if err != nil {
			return err
		}
		v, err := newValue(shape, d)
		if err != nil {
			return err
		}
		*data, *values, vals = append(*data, d), append(*values, v), append(vals, v)
		return nil
	}
	for _, s := range p.in {
		if err := add(s, &set.inData, &set.in); err != nil {
			return vals, err
		}
	}
	for _, s := range p.out {
		if err := add(s, &set.outData, &set.out); err != nil {
			return vals, err
		}
	}
	return vals, nil
}

// runOptions pools ONNX Runtime run options (see Model.run).
var runOptions sync.Pool // *pooledRunOptions

type pooledRunOptions struct{ ro *ort.RunOptions }

func getRunOptions() (*pooledRunOptions, error) {
	if p, ok := runOptions.Get().(*pooledRunOptions); ok {
		return p, nil
	}
	ro, err := ort.NewRunOptions()
	if err != nil {
		return nil, err
	}
	p := &pooledRunOptions{ro}
	runtime.AddCleanup(p, func(ro *ort.RunOptions) { ro.Destroy() }, ro)
	return p, nil
}

// copyData copies src into dst, slices of the same element type.
func copyData(dst, src any) {
	switch d := dst.(type) {
	case []bool:
		copy(d, src.([]bool))
	case []uint8:
		copy(d, src.([]uint8))
	case []uint16:
		copy(d, src.([]uint16))
	case []uint32:
		copy(d, src.([]uint32))
	case []uint64:
		copy(d, src.([]uint64))
	case []int8:
		copy(d, src.([]int8))
	case []int16:
		copy(d, src.([]int16))
	case []int32:
		copy(d, src.([]int32))
	case []int64:
		copy(d, src.([]int64))
	case []float32:
		copy(d, src.([]float32))
	case []float64:
		copy(d, src.([]float64))
	}
}

// cloneData returns a copy of a slice Tensor.Data may hold.
func cloneData(data any) any {
	switch d := data.(type) {
	case []bool:
		return slices.Clone(d)
	case []uint8:
		return slices.Clone(d)
	case []uint16:
		return slices.Clone(d)
	case []uint32:
		return slices.Clone(d)
	case []uint64:
		return slices.Clone(d)
	case []int8:
		return slices.Clone(d)
	case []int16:
		return slices.Clone(d)
	case []int32:
		return slices.Clone(d)
	case []int64:
		return slices.Clone(d)
	case []float32:
		return slices.Clone(d)
	case []float64:
		return slices.Clone(d)
	}
	return nil
}
