package reconciler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/eaglenotifier/talon/inference"
	"github.com/eaglenotifier/talon/inference/metrics"
	"github.com/eaglenotifier/talon/inference/validate"
	"github.com/eaglenotifier/talon/policy"
	"github.com/eaglenotifier/talon/reconciler/store"
)

// maxDataset bounds a validation dataset read into memory.
const maxDataset = validate.DefaultMaxDatasetBytes

// GateRecord is what Talon keeps with a version after its quality gate: the measured
// report, each check against its threshold, and the verdict.
type GateRecord struct {
	Digest string           `json:"digest"`
	Passed bool             `json:"passed"`
	Checks []policy.Check   `json:"checks"`
	Report *validate.Report `json:"report,omitempty"`
	Source string           `json:"datasetSource,omitempty"`
}

// gateConfigured reports whether the org declares any quality threshold or schema.
func gateConfigured(v policy.Validation) bool {
	return v.MinAccuracy > 0 || v.MaxP50Latency > 0 || v.MaxP99Latency > 0 || v.MaxModelSize > 0 ||
		len(v.Schema.Inputs)+len(v.Schema.Outputs) > 0
}

// gate runs the candidate, already loaded in its own session, over the validation dataset
// and checks the report against the org's thresholds with the policy's gate decision. The
// record is kept with the version and logged; a failed gate never replaces the serving
// model. When the dataset cannot be read (registry down during a rollback), a passing
// record kept for the same digest stands in.
func (r *Reconciler) gate(ctx context.Context, run *orgRun) error {
	v := run.org.Validation
	if !gateConfigured(v) {
		return nil
	}
	sig := run.model.Signature()
	if len(v.Schema.Inputs)+len(v.Schema.Outputs) > 0 {
		schemaOnly := policy.QualityGate(policy.Validation{Schema: v.Schema}, policy.ValidationReport{Inputs: specs(sig.Inputs), Outputs: specs(sig.Outputs)})
		if !schemaOnly.Pass {
			run.gateRecord = &GateRecord{Digest: run.digest.DigestStr(), Checks: schemaOnly.Checks}
			return stalled("validate", "GateFailed", fmt.Errorf("%s@%s does not have the declared schema: %s", run.org.Model, run.digest.DigestStr(), checksText(schemaOnly.Failed())))
		}
	}
	ds, source, dsErr := r.dataset(ctx, run)
	if ds == nil && dsErr != nil {
		if prev, ok := r.passedBefore(run); ok {
			run.log.Info("validation dataset unavailable; using this digest's earlier passing gate", "err", dsErr)
			run.gateRecord = prev
			return nil
		}
	}
	rep := &validate.Report{}
	if ds != nil {
		var err error
		rep, err = validate.Evaluate(ctx, run.model, bytes.NewReader(ds), validate.Options{})
		if err != nil && ctx.Err() != nil {
			return transient("validate", "ValidationInterrupted", err)
		}
		if err != nil && !errors.Is(err, validate.ErrSchema) {
			return stalled("validate", "ValidationFailed", fmt.Errorf("validate %s@%s: %w", run.org.Model, run.digest.DigestStr(), err))
		}
	}
	res := policy.QualityGate(v, policy.ValidationReport{
		Samples: rep.Rows, Accuracy: rep.Accuracy, P50Latency: rep.P50, P99Latency: rep.P99,
		ModelSize: int64(len(run.bytes)), Inputs: specs(sig.Inputs), Outputs: specs(sig.Outputs),
	})
	rec := &GateRecord{Digest: run.digest.DigestStr(), Passed: res.Pass, Checks: res.Checks, Report: rep, Source: source}
	run.gateRecord = rec
	r.setState(run.org.Name, func(s *orgState) {
		s.validation = map[string]any{"digest": rec.Digest, "passed": rec.Passed, "checks": checkLines(rec.Checks), "dataset": source}
	})
	if b, err := json.MarshalIndent(rec, "", "  "); err == nil {
		if err := r.store.PutReport(ctx, run.org.Name, run.version, b); err != nil {
			run.log.Warn("validation report not kept", "err", err)
		}
	}
	if r.opts.Metrics != nil {
		r.opts.Metrics.ObserveValidation(run.org.Name, run.version, metrics.Validation{Passed: res.Pass, Accuracy: rep.Accuracy, P50: rep.P50, P99: rep.P99, Samples: rep.Rows})
	}
	run.log.Info("quality gate", "passed", res.Pass, "digest", run.digest.DigestStr(), "checks", checksText(res.Checks))
	if !res.Pass {
		why := checksText(res.Failed())
		if dsErr != nil {
			why += "; dataset: " + dsErr.Error()
		}
		return stalled("validate", "GateFailed", fmt.Errorf("%s@%s failed the quality gate: %s", run.org.Model, run.digest.DigestStr(), why))
	}
	return nil
}

// dataset returns the validation set: a file of the config repository, or the artifact's
// dataset layer (kept from the pull, or fetched again by digest for a stored version).
func (r *Reconciler) dataset(ctx context.Context, run *orgRun) ([]byte, string, error) {
	d := run.org.Validation.Dataset
	if d.From == "repo" {
		b, err := run.snap.ReadFile(ctx, d.Path)
		if err != nil {
			return nil, "repo:" + d.Path, fmt.Errorf("read %s from the config repo: %w", d.Path, err)
		}
		return b, "repo:" + d.Path, nil
	}
	if run.dataset != nil {
		return run.dataset, "artifact", nil
	}
	if run.offline {
		return nil, "artifact", errors.New("registry unreachable")
	}
	art, err := r.reg.Fetch(ctx, run.digest)
	if err != nil {
		return nil, "artifact", fmt.Errorf("fetch %s: %w", run.digest, err)
	}
	if art.Dataset == nil {
		return nil, "artifact", fmt.Errorf("%s has no dataset layer", run.digest)
	}
	return readDataset(ctx, art.OpenDataset)
}

func readDataset(ctx context.Context, open func(context.Context) (io.ReadCloser, error)) ([]byte, string, error) {
	rc, err := open(ctx)
	if err != nil {
		return nil, "artifact", err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxDataset+1))
	if err == nil && len(b) > maxDataset {
		err = fmt.Errorf("dataset larger than %d bytes", maxDataset)
	}
	if err != nil {
		return nil, "artifact", err
	}
	return b, "artifact", nil
}

// passedBefore returns this digest's earlier gate record when it passed.
func (r *Reconciler) passedBefore(run *orgRun) (*GateRecord, bool) {
	b, err := r.store.Report(run.org.Name, run.version)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			run.log.Warn("validation report unreadable", "err", err)
		}
		return nil, false
	}
	var rec GateRecord
	if json.Unmarshal(b, &rec) != nil || !rec.Passed || rec.Digest != run.digest.DigestStr() {
		return nil, false
	}
	return &rec, true
}

func specs(in []inference.TensorSpec) []policy.TensorSpec {
	out := make([]policy.TensorSpec, len(in))
	for i, t := range in {
		out[i] = policy.TensorSpec{Name: t.Name, Datatype: t.Datatype, Shape: t.Shape}
	}
	return out
}

func checksText(cs []policy.Check) string { return strings.Join(checkLines(cs), "; ") }

// checkLines renders checks as "accuracy 0.508 (limit >= 0.9) FAILED".
func checkLines(cs []policy.Check) []string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		verdict := "ok"
		if !c.Pass {
			verdict = "FAILED"
		}
		parts[i] = fmt.Sprintf("%s %s (limit %s) %s", c.Name, c.Observed, c.Limit, verdict)
	}
	return parts
}
