package inference

import (
	"context"
	"fmt"
	"math"
	"slices"

	ort "github.com/yalue/onnxruntime_go"
)

// Tensor is one named input or output of an inference.
type Tensor struct {
	// Name is the tensor's name in the model's signature.
	Name string
	// Datatype is the OIP datatype name; it must match Data's element type.
	Datatype string
	// Shape lists the dimensions; its product is the number of elements in Data.
	Shape []int64
	// Data holds the elements in row-major order: a []bool, []uint8, []uint16,
	// []uint32, []uint64, []int8, []int16, []int32, []int64, []float32 or
	// []float64 matching Datatype.
	Data any
}

// Infer runs the model on in (one Tensor per model input, in any order) and
// returns the outputs named by outputs, in that order; nil or empty outputs means
// every served output in signature order. Inputs are validated against the
// signature first: names, datatypes, shapes (a dynamic dimension accepts any size
// ≥ 1, a fixed one only its size) and element counts; every such error matches
// ErrBadInput. Infer does not modify the input data and returns outputs the
// caller owns. When ctx is cancelled during the run, ONNX Runtime is asked to
// terminate it and Infer returns ctx's error. Infer is safe for concurrent use.
func (m *Model) Infer(ctx context.Context, in []Tensor, outputs []string) ([]Tensor, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !m.hold() {
		return nil, fmt.Errorf("infer %s %s: %w", m.info.Org, m.info.Version, ErrClosed)
	}
	defer m.release()
	res, set, err := m.infer(ctx, in, outputs)
	if set != nil {
		res = ownedCopy(res)
		m.plan.sets.put(set)
	}
	return res, err
}

// InferFunc is Infer lending the outputs to fn instead of giving them away:
// out (its tensors, their Shape and Data) is valid only until fn returns and is
// reused by later inferences, so fn must neither keep nor modify any of it. It
// saves Infer's copy of the outputs. fn is called only when the inference
// succeeded, and the model is held (not destroyed by Close) until it returns;
// InferFunc returns fn's error as is, or Infer's error without calling fn.
func (m *Model) InferFunc(ctx context.Context, in []Tensor, outputs []string, fn func(out []Tensor) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !m.hold() {
		return fmt.Errorf("infer %s %s: %w", m.info.Org, m.info.Version, ErrClosed)
	}
	defer m.release()
	res, set, err := m.infer(ctx, in, outputs)
	if err != nil {
		return err
	}
	err = fn(res)
	if set != nil {
		m.plan.sets.put(set)
	}
	return err
}

// infer validates and runs a request for a held model. When set is not nil,
// res is lent from it and the caller returns it to its pool.
func (m *Model) infer(ctx context.Context, in []Tensor, outputs []string) (res []Tensor, set *ioSet, err error) {
	order, err := m.bindInputs(in)
	if err != nil {
		return nil, nil, err
	}
	pick, err := m.pickOutputs(outputs)
	if err != nil {
		return nil, nil, err
	}
	res, set, planned, err := m.inferPlanned(ctx, in, order, pick)
	if planned && (err == nil || ctx.Err() != nil) {
		if err != nil {
			return nil, nil, fmt.Errorf("run %s %s: %w", m.info.Org, m.info.Version, err)
		}
		return res, set, nil
	}
	res, err = m.inferAllocated(ctx, in, order, pick)
	if planned && err == nil {
		m.plan.off.Store(true) // the output shapes did not follow from the batch size
	}
	return res, nil, err
}

// inferAllocated runs a validated request with outputs that ONNX Runtime
// allocates, whatever their shapes.
func (m *Model) inferAllocated(ctx context.Context, in []Tensor, order, pick []int) ([]Tensor, error) {
	var err error
	inVals := make([]ort.Value, len(order))
	outVals := make([]ort.Value, len(m.sig.Outputs))
	defer destroyAll(inVals)
	defer destroyAll(outVals)
	for i, k := range order {
		if inVals[i], err = newValue(in[k].Shape, in[k].Data); err != nil {
			return nil, fmt.Errorf("input %q: %w", in[k].Name, err)
		}
	}
	if err := m.run(ctx, elements(in[order[0]].Shape), inVals, outVals, nil); err != nil {
		return nil, fmt.Errorf("run %s %s: %w", m.info.Org, m.info.Version, err)
	}
	res := make([]Tensor, len(pick))
	for j, k := range pick {
		dt, shape, data, err := valueData(outVals[k])
		if err != nil {
			return nil, fmt.Errorf("output %q: %w", m.sig.Outputs[k].Name, err)
		}
		res[j] = Tensor{Name: m.sig.Outputs[k].Name, Datatype: dt, Shape: shape, Data: data}
	}
	return res, nil
}

// run runs the session on in and out, or on bound (which binds them) if not
// nil, asking ONNX Runtime to stop if ctx is cancelled during a run that is not
// quick; elems is the number of elements of the first input. Run options come
// from a pool: creating and destroying them costs two cgo calls.
func (m *Model) run(ctx context.Context, elems int64, in, out []ort.Value, bound *ort.IoBinding) error {
	if ctx.Done() == nil || m.quickRun(elems) {
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		if bound != nil {
			return m.sess.RunWithBinding(bound)
		}
		return m.sess.Run(in, out)
	}
	opts, err := getRunOptions()
	if err != nil {
		return fmt.Errorf("run options: %w", err)
	}
	terminated := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		opts.ro.Terminate()
		close(terminated)
	})
	err = m.sess.RunWithOptions(in, out, opts.ro)
	if !stop() {
		<-terminated // the options must outlive Terminate; terminated, they are not reused
		if err != nil {
			return fmt.Errorf("%w (%v)", context.Cause(ctx), err)
		}
		return err
	}
	runOptions.Put(opts)
	return err
}

func destroyAll(vals []ort.Value) {
	for _, v := range vals {
		if v != nil {
			v.Destroy()
		}
	}
}

// bindInputs checks in against the signature and returns, for each signature
// input, the index of the request tensor bound to it.
func (m *Model) bindInputs(in []Tensor) ([]int, error) {
	if inOrder(in, m.sig.Inputs) { // the usual case: no allocation
		for i, t := range in {
			if err := checkTensor(m.sig.Inputs[i], t); err != nil {
				return nil, err
			}
		}
		return m.identity[:len(in)], nil
	}
	order := make([]int, len(m.sig.Inputs))
	for i := range order {
		order[i] = -1
	}
	for k, t := range in {
		i := m.inputIndex(t.Name)
		if i < 0 {
			return nil, inputErr(t.Name, "the model has no such input (inputs: %s)", specNames(m.sig.Inputs))
		}
		if order[i] >= 0 {
			return nil, inputErr(t.Name, "given more than once")
		}
		if err := checkTensor(m.sig.Inputs[i], t); err != nil {
			return nil, err
		}
		order[i] = k
	}
	for i, k := range order {
		if k < 0 {
			return nil, inputErr(m.sig.Inputs[i].Name, "missing (the model needs %s)", m.sig.Inputs[i])
		}
	}
	return order, nil
}

// inOrder reports whether in names exactly the specs, in order.
func inOrder(in []Tensor, specs []TensorSpec) bool {
	if len(in) != len(specs) {
		return false
	}
	for i, t := range in {
		if t.Name != specs[i].Name {
			return false
		}
	}
	return true
}

func (m *Model) inputIndex(name string) int {
	for i, s := range m.sig.Inputs {
		if s.Name == name {
			return i
		}
	}
	return -1
}

// pickOutputs maps requested output names to signature indexes.
func (m *Model) pickOutputs(names []string) ([]int, error) {
	if len(names) == 0 || (len(names) == len(m.sig.Outputs) && slices.EqualFunc(names, m.sig.Outputs,
		func(n string, s TensorSpec) bool { return n == s.Name })) {
		return m.identity[:len(m.sig.Outputs)], nil
	}
	pick := make([]int, len(names))
	for j, name := range names {
		pick[j] = -1
		for i, s := range m.sig.Outputs {
			if s.Name == name {
				pick[j] = i
			}
		}
		if pick[j] < 0 {
			return nil, &InputError{Kind: "output", Name: name,
				Reason: fmt.Sprintf("the model serves no such output (outputs: %s)", specNames(m.sig.Outputs))}
		}
		for _, prev := range pick[:j] {
			if prev == pick[j] {
				return nil, &InputError{Kind: "output", Name: name, Reason: "requested more than once"}
			}
		}
	}
	return pick, nil
}

// checkTensor validates one request tensor against its spec.
func checkTensor(spec TensorSpec, t Tensor) error {
	if t.Datatype != spec.Datatype {
		return inputErr(t.Name, "datatype %s, the model expects %s", t.Datatype, spec.Datatype)
	}
	if got := datatypeOf(t.Data); got != spec.Datatype {
		return inputErr(t.Name, "data is %T, datatype %s needs %s elements", t.Data, spec.Datatype, spec.Datatype)
	}
	if len(t.Shape) != len(spec.Shape) {
		return inputErr(t.Name, "shape %v has %d dimensions, the model expects %d (%v)", t.Shape, len(t.Shape), len(spec.Shape), spec.Shape)
	}
	n := int64(1)
	for i, d := range t.Shape {
		want := spec.Shape[i]
		if (want < 0 && d < 1) || (want >= 0 && d != want) {
			return inputErr(t.Name, "shape %v does not match the model's %v (dimension %d)", t.Shape, spec.Shape, i)
		}
		if d > 0 && n > math.MaxInt64/d {
			return inputErr(t.Name, "shape %v is too large", t.Shape)
		}
		n *= d
	}
	if got := dataLen(t.Data); int64(got) != n {
		return inputErr(t.Name, "has %d elements, shape %v needs %d", got, t.Shape, n)
	}
	return nil
}

func specNames(specs []TensorSpec) string {
	s := "["
	for i, t := range specs {
		if i > 0 {
			s += " "
		}
		s += t.String()
	}
	return s + "]"
}
