// Package validate is the validation gate's runner: it loads a candidate model
// in its own ONNX Runtime session, checks its inputs and outputs against a
// declared schema, runs a labeled dataset through it and measures
// binary-classification quality and per-request latency. It reports numbers
// only; whether they pass the org's thresholds is the policy package's call.
package validate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/eaglenotifier/talon/inference"
)

// The errors Run and Evaluate return match one of these (errors.Is) unless the
// context ended. Each means the model could not be fully evaluated, so a gate
// must refuse it; the Report says how far it got.
var (
	// ErrLoad: ONNX Runtime cannot load the model (corrupt, not ONNX, unserved types).
	ErrLoad = errors.New("model does not load")
	// ErrSchema: the model's inputs or outputs differ from the declared schema
	// (Report.SchemaErrors lists how), or cannot be fed one float32 [batch, n]
	// table and read as one probability per row.
	ErrSchema = errors.New("model schema mismatch")
	// ErrDataset: the dataset is unreadable, too large, empty, or does not fit the
	// model's input (a wrong number of feature columns).
	ErrDataset = errors.New("bad validation dataset")
	// ErrInference: an inference on the dataset failed or returned a probability
	// that is not finite.
	ErrInference = errors.New("validation inference failed")
)

// Options tunes Run and Evaluate. The zero value is ready to use.
type Options struct {
	// Schema is the declared signature the model must have (see CheckSchema);
	// nil skips the check.
	Schema *inference.Signature
	// Threshold is the probability at or above which a prediction counts as
	// positive. The default (0) means 0.5.
	Threshold float64
	// BatchSize is the number of rows per timed inference. The default (0) means
	// 1: each row is one request, as a serving client sends it, so P50 and P99 are
	// per-request latencies.
	BatchSize int
	// Output names the output read as P(label = 1). The default is the model's
	// only served output, else its first FP32 or FP64 output. Its shape must be
	// [batch], [batch, 1] (the probability) or [batch, 2] (column 1 is read).
	Output string
	// Dataset tells how to read the CSV (label column, expected feature names,
	// size bound).
	Dataset DatasetOptions
	// Load is passed to inference.LoadModel by Run.
	Load inference.LoadOptions
}

// Report is what a validation run measured. Durations are in nanoseconds in JSON.
type Report struct {
	// Org, Version and Digest identify the model (its inference.ModelInfo).
	Org     string `json:"org,omitempty"`
	Version string `json:"version,omitempty"`
	Digest  string `json:"digest,omitempty"`
	// SizeBytes is the size of the ONNX model (Run only; 0 from Evaluate).
	SizeBytes int64 `json:"sizeBytes"`
	// Load is how long LoadModel took, warm-up included (Run only).
	Load time.Duration `json:"loadNs"`
	// SchemaErrors lists each difference from the declared schema.
	SchemaErrors []string `json:"schemaErrors,omitempty"`
	// Input and Output name the tensors fed and read; Columns the dataset
	// columns fed, in input order, matched ByName or in the file's order.
	Input   string   `json:"input,omitempty"`
	Output  string   `json:"output,omitempty"`
	Columns []string `json:"columns,omitempty"`
	ByName  bool     `json:"columnsByName"`
	Scores
	// BatchSize is the rows per timed inference; Requests the number of timed
	// inferences. P50, P99 and Max are their latencies (nearest rank; with fewer
	// than 100 requests P99 is the maximum).
	BatchSize int           `json:"batchSize"`
	Requests  int           `json:"requests"`
	P50       time.Duration `json:"p50Ns"`
	P99       time.Duration `json:"p99Ns"`
	Max       time.Duration `json:"maxNs"`
	// Error is why the run stopped early ("" when every figure was measured).
	Error string `json:"error,omitempty"`
}

// Run loads the candidate model onnx in a new session of its own (never the
// serving one), evaluates it like Evaluate, and closes the session. It always
// returns a Report holding what was measured; a non-nil error (see ErrLoad and
// the others) means the model could not be fully evaluated. A cancelled ctx
// returns ctx's error, which means "try again", not "refuse".
func Run(ctx context.Context, onnx []byte, info inference.ModelInfo, dataset io.Reader, opts Options) (*Report, error) {
	rep := newReport(info, opts)
	rep.SizeBytes = int64(len(onnx))
	start := time.Now()
	m, err := inference.LoadModel(ctx, onnx, info, opts.Load)
	if err != nil {
		if ctx.Err() != nil {
			return rep, rep.fail(ctx.Err())
		}
		return rep, rep.fail(fmt.Errorf("%w: %w", ErrLoad, err))
	}
	rep.Load = time.Since(start)
	defer m.Close()
	return rep, evaluate(ctx, m, dataset, opts, rep)
}

// Evaluate runs the checks of Run on a model that is already loaded (and leaves
// it open): the schema check, then every row of the dataset (a CSV table, see
// ReadDataset) in inferences of opts.BatchSize rows, each timed, then the scores
// at opts.Threshold. The model must have one FP32 input of shape [batch, n].
func Evaluate(ctx context.Context, m *inference.Model, dataset io.Reader, opts Options) (*Report, error) {
	rep := newReport(m.Info(), opts)
	return rep, evaluate(ctx, m, dataset, opts, rep)
}

func newReport(info inference.ModelInfo, opts Options) *Report {
	rep := &Report{Org: info.Org, Version: info.Version, Digest: info.Digest, BatchSize: opts.BatchSize}
	if rep.BatchSize <= 0 {
		rep.BatchSize = 1
	}
	rep.Threshold = opts.Threshold
	if rep.Threshold == 0 {
		rep.Threshold = 0.5
	}
	return rep
}

// fail records err in the report and returns it.
func (r *Report) fail(err error) error {
	r.Error = err.Error()
	return err
}

func evaluate(ctx context.Context, m *inference.Model, dataset io.Reader, opts Options, rep *Report) error {
	sig := m.Signature()
	if opts.Schema != nil {
		if rep.SchemaErrors = CheckSchema(*opts.Schema, sig); rep.SchemaErrors != nil {
			return rep.fail(fmt.Errorf("%w: %s", ErrSchema, strings.Join(rep.SchemaErrors, "; ")))
		}
	}
	in, out, err := feedable(sig, opts.Output)
	if err != nil {
		return rep.fail(fmt.Errorf("%w: %w", ErrSchema, err))
	}
	rep.Input, rep.Output = in.Name, out.Name
	ds, err := ReadDataset(dataset, opts.Dataset)
	if err != nil {
		return rep.fail(err)
	}
	rep.Columns, rep.ByName = ds.Columns, ds.ByName
	cols := len(ds.Columns)
	if in.Shape[1] >= 0 && int64(cols) != in.Shape[1] {
		return rep.fail(fmt.Errorf("%w: %d feature columns %q, the model's input %s takes %d", ErrDataset, cols, ds.Columns, in, in.Shape[1]))
	}
	probs := make([]float64, 0, ds.Rows)
	lat := make([]time.Duration, 0, ds.Rows/rep.BatchSize+1)
	names := []string{out.Name}
	for lo := 0; lo < ds.Rows; lo += rep.BatchSize {
		hi := min(lo+rep.BatchSize, ds.Rows)
		x := []inference.Tensor{{Name: in.Name, Datatype: inference.FP32,
			Shape: []int64{int64(hi - lo), int64(cols)}, Data: ds.X[lo*cols : hi*cols]}}
		start := time.Now()
		res, err := m.Infer(ctx, x, names)
		lat = append(lat, time.Since(start))
		if err != nil {
			if ctx.Err() != nil {
				return rep.fail(ctx.Err())
			}
			return rep.fail(fmt.Errorf("%w: rows %d–%d: %w", ErrInference, lo+1, hi, err))
		}
		if probs, err = appendProbs(probs, res[0], hi-lo); err != nil {
			return rep.fail(fmt.Errorf("%w: rows %d–%d: output %s: %w", ErrInference, lo+1, hi, out.Name, err))
		}
	}
	rep.Scores = Score(probs, ds.Labels, rep.Threshold)
	rep.Requests = len(lat)
	rep.P50 = Percentile(lat, 0.50)
	rep.P99 = Percentile(lat, 0.99)
	rep.Max = Percentile(lat, 1)
	return nil
}
