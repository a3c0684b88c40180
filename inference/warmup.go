package inference

import (
	"context"
	"fmt"
	"time"
)

// QuickRun is the expected run time under which a model's runs are not wired to the
// request's cancellation: a cancelled request then stops before its run, not during it.
const QuickRun = time.Millisecond

// calibrationBatch is the batch size of the warm-up runs that tell a run's fixed cost
// from its cost per element.
const calibrationBatch = 64

// warmUp runs runs inferences on zeros at batch 1 (none if runs ≤ 0) and estimates the
// run time of a request from them (see Model.quickRun). The estimate is the batch-1 time
// scaled by the elements of the first input, unless the batch-1 run is quicker than
// QuickRun/8 and the first input's first dimension is dynamic: then runs more at
// calibrationBatch split it into a fixed part and a part per element, the latter no
// less than half the calibration run's time per element, so that an unlucky warm-up
// errs towards wiring cancellation. Those runs let ONNX Runtime allocate the outputs and
// do not touch the plan; a failed one leaves the plain estimate.
func (m *Model) warmUp(ctx context.Context, runs int) error {
	if runs <= 0 {
		return nil
	}
	t1, err := m.fastest(ctx, 1, runs, m.Infer)
	if err != nil {
		return fmt.Errorf("warm-up inference on zeros: %w", err)
	}
	e1 := max(1, elements(zeroInputs(m.sig, 1)[0].Shape))
	m.runPerElem = float64(t1) / float64(e1)
	e2 := elements(zeroInputs(m.sig, calibrationBatch)[0].Shape)
	if 8*t1 >= QuickRun || e2 <= e1 {
		return nil
	}
	allocated := func(ctx context.Context, in []Tensor, _ []string) ([]Tensor, error) {
		return m.inferAllocated(ctx, in, m.identity[:len(in)], m.identity[:len(m.sig.Outputs)])
	}
	a1, err1 := m.fastest(ctx, 1, runs, allocated)
	a2, err2 := m.fastest(ctx, calibrationBatch, runs, allocated)
	if err1 != nil || err2 != nil || a2 <= a1 {
		return nil
	}
	per := max(float64(a2-a1)/float64(e2-e1), float64(a2)/float64(e2)/2)
	if per < m.runPerElem {
		m.runPerElem, m.runFixed = per, max(0, float64(t1)-per*float64(e1))
	}
	return nil
}

// fastest returns the fastest of runs inferences on zeros at batch b.
func (m *Model) fastest(ctx context.Context, b int64, runs int, infer func(context.Context, []Tensor, []string) ([]Tensor, error)) (time.Duration, error) {
	in := zeroInputs(m.sig, b)
	best := time.Duration(1<<63 - 1)
	for range runs {
		start := time.Now()
		if _, err := infer(ctx, in, nil); err != nil {
			return 0, err
		}
		best = min(best, time.Since(start))
	}
	return best, nil
}

// quickRun reports whether a run whose first input has elems elements is expected, from
// the warm-up, to take less than QuickRun.
func (m *Model) quickRun(elems int64) bool {
	return m.runPerElem > 0 && time.Duration(m.runFixed+m.runPerElem*float64(elems)) < QuickRun
}
