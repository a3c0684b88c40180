package inference

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/eaglenotifier/talon/inference/lowprio"
)

// ModelInfo is the provenance of a loaded model.
type ModelInfo struct {
	// Org is the organization the model serves.
	Org string
	// Version is the model version named in the config repository (the tag).
	Version string
	// Digest is the OCI manifest digest the version resolved to.
	Digest string
	// ConfigCommit is the config-repository commit that asked for this version.
	ConfigCommit string
}

// LoadOptions tunes LoadModel. The zero value is ready to use.
type LoadOptions struct {
	// IntraOpThreads is the number of threads ONNX Runtime may use inside one
	// inference. The default (0) means 1: Talon often runs as a sidecar on a small
	// pod, and concurrent requests already run in parallel on one session, so
	// extra intra-op threads mostly compete for the same cores.
	IntraOpThreads int
	// WarmupRuns is the number of inferences on zeros (batch 1, every dynamic
	// dimension 1) run before LoadModel returns. The default (0) means 3; a
	// negative value disables warm-up.
	WarmupRuns int
}

// Model is one ONNX model loaded into one ONNX Runtime session. Its Infer is safe
// for concurrent use. Close releases the session once every in-flight Infer has
// returned.
type Model struct {
	info    ModelInfo
	sig     Signature
	skipped []string
	sess    *ort.DynamicAdvancedSession
	plan    *ioPlan // nil: outputs are always allocated by ONNX Runtime
	// releaseFn is m.release as a func value made once, so that Cache.Acquire
	// does not allocate a closure per request.
	releaseFn func()
	// identity is 0, 1, 2, … (as many as the larger of inputs and outputs): the
	// binding of a request that names every tensor in signature order. Read only.
	identity []int
	// runFixed and runPerElem estimate, from the warm-up, how long a run takes
	// whose first input has n elements: runFixed + n × runPerElem nanoseconds (both
	// 0 without warm-up). A run expected to take less than QuickRun is not worth
	// wiring to the request's cancellation (which costs about half a microsecond).
	runFixed, runPerElem float64

	// state is 2×(in-flight calls) plus 1 once Close was called; the session is
	// destroyed when it reaches exactly 1.
	state     atomic.Int64
	destroyed atomic.Int32 // times the session was destroyed (tests expect ≤ 1)
}

// LoadModel creates an ONNX Runtime session from the model bytes onnx, checks
// that every input is a tensor of a served datatype (see Datatypes), and warms
// the session up with inferences on zeros (two more, at batch sizes 1 and 2,
// check whether the output shapes follow from the batch size, which lets Infer
// bind outputs it allocated itself; for a quick model with a dynamic batch, a
// few at batch 64 estimate which runs are quick, see QuickRun). On Linux the
// loading runs on an OS thread of lower scheduling priority (nice +10), so that
// a large model loading does not take CPU from requests being served. It never
// reads a file and does not keep onnx: the caller may wipe the bytes once it
// returns. Outputs that are not tensors of a served datatype (a scikit-learn
// ZipMap's sequence of maps, say) are not served; SkippedOutputs names them. A
// model with no servable output is rejected. The inputs and outputs are read
// from a throwaway session of the model's skeleton, its large weights left out
// (see modelIO), so that loading builds one full session, not two.
// InitRuntime must have been called.
func LoadModel(ctx context.Context, onnx []byte, info ModelInfo, opts LoadOptions) (*Model, error) {
	var m *Model
	var err error
	lowprio.Run(func() { m, err = loadModel(ctx, onnx, info, opts, modelIO) })
	if err != nil {
		return nil, fmt.Errorf("load model %s %s: %w", info.Org, info.Version, err)
	}
	return m, nil
}

// ioReader returns the inputs and outputs ONNX Runtime reports for a session of
// the model onnx: modelIO, or ort.GetInputOutputInfoWithONNXData (a throwaway
// session of the whole model) in the benchmark that compares them.
type ioReader func(onnx []byte) (ins, outs []ort.InputOutputInfo, err error)

func loadModel(ctx context.Context, onnx []byte, info ModelInfo, opts LoadOptions, readIO ioReader) (*Model, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !ort.IsInitialized() {
		return nil, errors.New("ONNX Runtime is not initialized (call InitRuntime first)")
	}
	if len(onnx) == 0 {
		return nil, errors.New("empty model")
	}
	ins, outs, err := readIO(onnx)
	if err != nil {
		return nil, fmt.Errorf("not a loadable ONNX model: %w", err)
	}
	m := &Model{info: info}
	m.releaseFn = m.release
	if m.sig, m.skipped, err = signatureOf(ins, outs); err != nil {
		return nil, err
	}
	m.identity = make([]int, max(len(m.sig.Inputs), len(m.sig.Outputs)))
	for i := range m.identity {
		m.identity[i] = i
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if m.sess, err = newSession(onnx, m.sig, opts); err != nil {
		return nil, err
	}
	runs := opts.WarmupRuns
	if runs == 0 {
		runs = 3
	}
	if plan := newPlan(m.sig); runs > 0 && plan != nil && m.planHolds(ctx, plan) {
		m.plan = plan
	}
	if err := m.warmUp(ctx, runs); err != nil {
		m.destroy()
		return nil, err
	}
	return m, nil
}

func elements(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return n
}

// signatureOf builds the served signature from ONNX Runtime's IO info.
func signatureOf(ins, outs []ort.InputOutputInfo) (Signature, []string, error) {
	var sig Signature
	for _, in := range ins {
		spec, err := specOf(in)
		if err != nil {
			return Signature{}, nil, fmt.Errorf("input %q: %w", in.Name, err)
		}
		sig.Inputs = append(sig.Inputs, spec)
	}
	if len(sig.Inputs) == 0 {
		return Signature{}, nil, errors.New("model has no inputs")
	}
	var skipped []string
	for _, out := range outs {
		spec, err := specOf(out)
		if err != nil {
			skipped = append(skipped, out.Name)
			continue
		}
		sig.Outputs = append(sig.Outputs, spec)
	}
	if len(sig.Outputs) == 0 {
		return Signature{}, nil, fmt.Errorf("model has no servable output (every output is a non-tensor or of an unserved datatype: %v)", skipped)
	}
	return sig, skipped, nil
}

func specOf(io ort.InputOutputInfo) (TensorSpec, error) {
	if io.OrtValueType != ort.ONNXTypeTensor {
		return TensorSpec{}, fmt.Errorf("is a %s, only tensors are served", io.OrtValueType)
	}
	dt, ok := ortDatatypes[io.DataType]
	if !ok {
		return TensorSpec{}, fmt.Errorf("datatype %s is not served (served: %v)", oipName(io.DataType), Datatypes())
	}
	shape := slices.Clone([]int64(io.Dimensions))
	for i, d := range shape {
		if d < 0 {
			shape[i] = -1
		}
	}
	return TensorSpec{Name: io.Name, Datatype: dt, Shape: shape}, nil
}

func newSession(onnx []byte, sig Signature, opts LoadOptions) (*ort.DynamicAdvancedSession, error) {
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("session options: %w", err)
	}
	defer so.Destroy()
	threads := opts.IntraOpThreads
	if threads <= 0 {
		threads = 1
	}
	if err := so.SetIntraOpNumThreads(threads); err != nil {
		return nil, fmt.Errorf("set intra-op threads to %d: %w", threads, err)
	}
	if err := so.SetInterOpNumThreads(1); err != nil {
		return nil, fmt.Errorf("set inter-op threads: %w", err)
	}
	names := func(specs []TensorSpec) []string {
		out := make([]string, len(specs))
		for i, s := range specs {
			out[i] = s.Name
		}
		return out
	}
	sess, err := ort.NewDynamicAdvancedSessionWithONNXData(onnx, names(sig.Inputs), names(sig.Outputs), so)
	if err != nil {
		return nil, fmt.Errorf("create session: %w", err)
	}
	return sess, nil
}

// planHolds reports whether the output shapes plan predicts are the ones the
// model computes on zeros, at batch sizes 1 and 2 (1 only when no input has a
// dynamic first dimension). m.plan must still be nil.
func (m *Model) planHolds(ctx context.Context, plan *ioPlan) bool {
	batches := []int64{1}
	if slices.ContainsFunc(m.sig.Inputs, func(s TensorSpec) bool { return len(s.Shape) > 0 && s.Shape[0] < 0 }) {
		batches = append(batches, 2)
	}
	for _, b := range batches {
		out, err := m.Infer(ctx, zeroInputs(m.sig, b), nil)
		if err != nil {
			return false
		}
		for k, t := range out {
			if !slices.Equal(t.Shape, shapeFor(plan.out[k], b)) {
				return false
			}
		}
	}
	return true
}

// zeroInputs returns zero-filled inputs with a first dimension of batch where it
// is dynamic, and every other dynamic dimension 1.
func zeroInputs(sig Signature, batch int64) []Tensor {
	in := make([]Tensor, len(sig.Inputs))
	for i, s := range sig.Inputs {
		shape := slices.Clone(s.Shape)
		n := 1
		for j, d := range shape {
			if d < 0 {
				shape[j] = 1
				if j == 0 {
					shape[j] = batch
				}
			}
			n *= int(shape[j])
		}
		data, _ := MakeData(s.Datatype, n) // datatypes were checked by specOf
		in[i] = Tensor{Name: s.Name, Datatype: s.Datatype, Shape: shape, Data: data}
	}
	return in
}

// Info returns the model's provenance.
func (m *Model) Info() ModelInfo { return m.info }

// Signature returns a copy of the model's served inputs and outputs.
func (m *Model) Signature() Signature { return m.sig.Clone() }

// OutputName returns the name of the model's i-th served output in signature
// order ("" if there is none), without copying the signature as Signature does.
func (m *Model) OutputName(i int) string {
	if i < 0 || i >= len(m.sig.Outputs) {
		return ""
	}
	return m.sig.Outputs[i].Name
}

// SkippedOutputs names the model's outputs that are not served (non-tensors or
// unserved datatypes), in the model's order.
func (m *Model) SkippedOutputs() []string { return slices.Clone(m.skipped) }

// Close releases the model's session: at once if no Infer is running and no
// Cache request holds the model, otherwise when the last of them returns. Once
// the session is released Infer fails with ErrClosed. Close is idempotent and
// always returns nil.
func (m *Model) Close() error {
	for {
		s := m.state.Load()
		if s&1 != 0 {
			return nil
		}
		if m.state.CompareAndSwap(s, s|1) {
			if s == 0 {
				m.destroy()
			}
			return nil
		}
	}
}

// acquire registers an in-flight call; it fails once Close was called.
func (m *Model) acquire() bool {
	for {
		s := m.state.Load()
		if s&1 != 0 {
			return false
		}
		if m.state.CompareAndSwap(s, s+2) {
			return true
		}
	}
}

// hold registers an in-flight Infer. Unlike acquire it succeeds after Close
// while other calls (such as requests holding the model from Cache.Acquire)
// still keep the session alive; it fails once the session is destroyed.
func (m *Model) hold() bool {
	for {
		s := m.state.Load()
		if s == 1 {
			return false
		}
		if m.state.CompareAndSwap(s, s+2) {
			return true
		}
	}
}

// release ends an in-flight call and destroys the session if it was the last
// one after Close.
func (m *Model) release() {
	if m.state.Add(-2) == 1 {
		m.destroy()
	}
}

func (m *Model) destroy() {
	m.destroyed.Add(1)
	if m.plan != nil {
		m.plan.sets.drain() // bindings must go before the session
	}
	m.sess.Destroy()
}
