// Package cbench builds and runs the plain-C baseline of Talon's inference
// overhead benchmark: bench.c, a program that calls libonnxruntime.so through the
// ONNX Runtime C API (loaded with dlopen) on the same model and thread count as
// Talon, so a benchmark can report Talon's time as a ratio of the C program's.
package cbench

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

//go:embed bench.c
var source []byte

// ORTModule is the Go module whose directory holds onnxruntime_c_api.h, the
// header bench.c is compiled against.
const ORTModule = "github.com/yalue/onnxruntime_go"

// Build compiles bench.c with gcc (-O2) into dir and returns the program's path.
// The header comes from the ORTModule directory `go list -m` reports.
func Build(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", ORTModule).Output()
	if err != nil {
		return "", fmt.Errorf("locate %s with go list -m: %w", ORTModule, err)
	}
	inc := strings.TrimSpace(string(out))
	if _, err := os.Stat(filepath.Join(inc, "onnxruntime_c_api.h")); err != nil {
		return "", fmt.Errorf("onnxruntime_c_api.h in %s: %w", ORTModule, err)
	}
	src := filepath.Join(dir, "bench.c")
	if err := os.WriteFile(src, source, 0o644); err != nil {
		return "", fmt.Errorf("write bench.c: %w", err)
	}
	bin := filepath.Join(dir, "bench")
	cmd := exec.CommandContext(ctx, "gcc", "-O2", "-std=c11", "-Wall", "-Werror", "-I", inc, "-o", bin, src, "-ldl")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("gcc bench.c: %w: %s", err, bytes.TrimSpace(msg))
	}
	return bin, nil
}

// Config says what the C program loads.
type Config struct {
	// Lib is the path of libonnxruntime.so.
	Lib string
	// Model is the path of the ONNX model; its single input is float32 [batch, Cols].
	Model string
	// Input and Output name the model's input and the output to read.
	Input, Output string
	// Cols is the width of one input row.
	Cols int
}

// Result is the C program's figure for one measurement.
type Result struct {
	Batch      int
	Iterations int64
	// PerInference is the mean time of one inference of Batch rows; PerRow is
	// PerInference / Batch, in nanoseconds (fractional).
	PerInference time.Duration
	PerRow       float64
	// Sum is the sum of the outputs of one inference, to check that the C
	// program computed what Talon computes.
	Sum float64
}

// Process is a running C program with its model loaded; Measure asks it for one
// measurement. It is not safe for concurrent use.
type Process struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *bufio.Scanner
	stderr bytes.Buffer
}

// Start starts the program bin built by Build and has it load cfg.Model. Close
// ends it. Model load errors surface at the first Measure.
func Start(ctx context.Context, bin string, cfg Config) (*Process, error) {
	p := &Process{cmd: exec.CommandContext(ctx, bin, cfg.Lib, cfg.Model, cfg.Input, cfg.Output, strconv.Itoa(cfg.Cols))}
	p.cmd.Stderr = &p.stderr
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		return nil, fmt.Errorf("cbench: %w", err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("cbench: %w", err)
	}
	p.out = bufio.NewScanner(stdout)
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("cbench: start %s: %w", filepath.Base(bin), err)
	}
	return p, nil
}

// Measure runs inferences of batch rows for at least d (and at least 100 of
// them) and returns the program's figures.
func (p *Process) Measure(batch int, d time.Duration) (Result, error) {
	if batch < 1 {
		return Result{}, fmt.Errorf("cbench: batch size %d, want ≥ 1", batch)
	}
	if _, err := fmt.Fprintf(p.stdin, "%d %d\n", batch, d.Nanoseconds()); err != nil {
		return Result{}, p.failed(err)
	}
	if !p.out.Scan() {
		return Result{}, p.failed(p.out.Err())
	}
	return parse(p.out.Text())
}

// failed ends the program and returns why it stopped answering.
func (p *Process) failed(err error) error {
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	p.stdin.Close()
	werr := p.cmd.Wait()
	return fmt.Errorf("cbench: %w: %s", errors.Join(err, werr), bytes.TrimSpace(p.stderr.Bytes()))
}

// Close ends the program and waits for it.
func (p *Process) Close() error {
	p.stdin.Close()
	if err := p.cmd.Wait(); err != nil {
		return fmt.Errorf("cbench: %w: %s", err, bytes.TrimSpace(p.stderr.Bytes()))
	}
	return nil
}

// parse reads a line `batch=B iters=N ns_per_inference=X ns_per_row=Y sum=S`.
func parse(line string) (Result, error) {
	kv := map[string]string{}
	for _, f := range strings.Fields(line) {
		k, v, _ := strings.Cut(f, "=")
		kv[k] = v
	}
	batch, err1 := strconv.Atoi(kv["batch"])
	iters, err2 := strconv.ParseInt(kv["iters"], 10, 64)
	perInf, err3 := strconv.ParseFloat(kv["ns_per_inference"], 64)
	perRow, err4 := strconv.ParseFloat(kv["ns_per_row"], 64)
	sum, err5 := strconv.ParseFloat(kv["sum"], 64)
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
		return Result{}, fmt.Errorf("cbench: bad output line %q: %w", line, err)
	}
	return Result{Batch: batch, Iterations: iters, PerInference: time.Duration(perInf), PerRow: perRow, Sum: sum}, nil
}
