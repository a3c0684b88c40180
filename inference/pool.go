package inference

import (
	"maps"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	ort "github.com/yalue/onnxruntime_go"
)

// Bounds of the pooled sets of a plan.
const (
	// copyInElems: a set holds its own input values, the request being copied
	// into them, when the inputs have at most this many elements together;
	// larger inputs are wrapped where they are for each run (two cgo calls,
	// cheaper than copying them).
	copyInElems = 1024
	// maxPooledOutElems bounds the output elements of a pooled set; a larger
	// request gets fresh output buffers.
	maxPooledOutElems = 1 << 18
	// maxPools bounds the batch sizes that get a pool; requests of further
	// sizes get fresh output buffers.
	maxPools = 64
)

// setPools holds a plan's pools of sets, one per batch size. A set's ONNX
// Runtime objects are destroyed when the model's session is (drain), or by a
// cleanup once the garbage collector drops the set from its pool. A binding
// must not outlive the session it binds to: drain destroys every binding made
// (bindings tracks them) before the session goes, and a later cleanup leaves
// the binding alone.
type setPools struct {
	mu    sync.Mutex                         // serializes adding pools
	pools atomic.Pointer[map[int64]*setPool] // copy-on-write
	full  atomic.Bool                        // maxPools reached

	bmu      sync.Mutex
	bindings map[*ort.IoBinding]struct{} // live bindings; nil once drained
}

type setPool struct{ sync.Pool } // *ioSet

func (sp *setPools) init() {
	sp.pools.Store(&map[int64]*setPool{})
	sp.bindings = map[*ort.IoBinding]struct{}{}
}

// ioSet is a reusable set of output values over Go buffers for one batch size,
// and (copyIn) input values the request is copied into. A copyIn set binds its
// values to the session once (an ONNX Runtime IoBinding): a run that need not
// be cancellable is then one cgo call that allocates nothing and passes no
// names.
type ioSet struct {
	pool    *setPool
	copyIn  bool
	in      []ort.Value // the set's own (copyIn) or, during a run, the request's wrapped
	inData  []any       // the buffers of the set's own input values (copyIn)
	out     []ort.Value
	outs    []Tensor // the outputs over the set's buffers, every output in signature order
	view    []Tensor // scratch for lending a subset of outs
	own     setResources
	cleanup runtime.Cleanup
}

// setResources are the ONNX Runtime objects a set made.
type setResources struct {
	sets    *setPools
	binding *ort.IoBinding // nil if none; tracked in sets.bindings
	values  []ort.Value
}

// destroy releases the binding (unless drain did), then the values it refers to.
func (r setResources) destroy() {
	if r.binding != nil {
		r.sets.bmu.Lock()
		if _, ok := r.sets.bindings[r.binding]; ok {
			delete(r.sets.bindings, r.binding)
			r.binding.Destroy()
		}
		r.sets.bmu.Unlock()
	}
	destroyAll(r.values)
}

// get returns a set for batch b from its pool or a new one; nil when sets of
// that size are not pooled.
func (sp *setPools) get(p *ioPlan, sess *ort.DynamicAdvancedSession, b int64) *ioSet {
	pool, ok := (*sp.pools.Load())[b]
	if !ok {
		if pool = sp.add(p, b); pool == nil {
			return nil
		}
	}
	if set, ok := pool.Get().(*ioSet); ok {
		return set
	}
	set := &ioSet{pool: pool, own: setResources{sets: sp}}
	if err := set.fill(p, b); err != nil {
		set.own.destroy()
		return nil
	}
	if set.copyIn {
		set.own.binding = sp.bind(sess, p, set)
	}
	set.cleanup = runtime.AddCleanup(set, setResources.destroy, set.own)
	return set
}

// add makes the pool of batch b, or returns nil if b does not get one.
func (sp *setPools) add(p *ioPlan, b int64) *setPool {
	if sp.full.Load() {
		return nil
	}
	var n int64
	for _, s := range p.out {
		n += elems(shapeFor(s, b))
	}
	if n > maxPooledOutElems {
		return nil
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	cur := *sp.pools.Load()
	if pool, ok := cur[b]; ok {
		return pool
	}
	if len(cur) >= maxPools {
		sp.full.Store(true)
		return nil
	}
	pool := &setPool{}
	next := maps.Clone(cur)
	next[b] = pool
	sp.pools.Store(&next)
	return pool
}

// put returns a set to its pool.
func (sp *setPools) put(set *ioSet) { set.pool.Put(set) }

// drain destroys the objects of every pooled set and every binding made. No
// set may be in use, and no set made after.
func (sp *setPools) drain() {
	for _, pool := range *sp.pools.Load() {
		for {
			set, ok := pool.Get().(*ioSet)
			if !ok {
				break
			}
			set.cleanup.Stop()
			set.own.destroy()
		}
	}
	sp.bmu.Lock()
	defer sp.bmu.Unlock()
	for b := range sp.bindings {
		b.Destroy() // of a set the garbage collector dropped, whose cleanup is pending
	}
	sp.bindings = nil
}

// fill allocates the set's buffers and values; set.own lists every value made.
func (set *ioSet) fill(p *ioPlan, b int64) error {
	var n int64
	for _, s := range p.in {
		n += elems(shapeFor(s, b))
	}
	set.copyIn = p.copyable && n <= copyInElems
	set.in = make([]ort.Value, len(p.in))
	if set.copyIn {
		set.inData = make([]any, len(p.in))
		for i, s := range p.in {
			shape := shapeFor(s, b)
			d, err := MakeData(s.Datatype, int(elems(shape)))
			if err != nil {
				return err
			}
			if set.in[i], err = newValue(shape, d); err != nil {
				return err
			}
			set.inData[i], set.own.values = d, append(set.own.values, set.in[i])
		}
	}
	set.out = make([]ort.Value, len(p.out))
	set.outs = make([]Tensor, len(p.out))
	set.view = make([]Tensor, 0, len(p.out))
	for k, s := range p.out {
		shape := shapeFor(s, b)
		d, err := MakeData(s.Datatype, int(elems(shape)))
		if err != nil {
			return err
		}
		if set.out[k], err = newValue(shape, d); err != nil {
			return err
		}
		set.own.values = append(set.own.values, set.out[k])
		set.outs[k] = Tensor{Name: s.Name, Datatype: s.Datatype, Shape: shape, Data: d}
	}
	return nil
}

// bind binds the set's values to the session and tracks the binding; nil if
// that fails (runs then pass the values).
func (sp *setPools) bind(sess *ort.DynamicAdvancedSession, p *ioPlan, set *ioSet) *ort.IoBinding {
	b, err := sess.CreateIoBinding()
	if err != nil {
		return nil
	}
	for i, s := range p.in {
		if err == nil {
			err = b.BindInput(s.Name, set.in[i])
		}
	}
	for k, s := range p.out {
		if err == nil {
			err = b.BindOutput(s.Name, set.out[k])
		}
	}
	sp.bmu.Lock()
	defer sp.bmu.Unlock()
	if err != nil || sp.bindings == nil {
		b.Destroy()
		return nil
	}
	sp.bindings[b] = struct{}{}
	return b
}

// lend returns the outputs named by pick, over the set's buffers.
func (set *ioSet) lend(pick []int) []Tensor {
	if len(pick) == len(set.outs) && isIdentity(pick) {
		return set.outs
	}
	set.view = set.view[:0]
	for _, k := range pick {
		set.view = append(set.view, set.outs[k])
	}
	return set.view
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
