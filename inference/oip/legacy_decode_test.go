package oip

// This file and legacy_walk_test.go keep the request decoder as it was before
// the fast path (decodeFast) and the closure-free data walker:
// FuzzDecodeVsLegacy checks that DecodeInferRequest answers every input
// exactly as it did.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/eaglenotifier/talon/inference"
)

type legacyWireRequest struct {
	ID         *string                    `json:"id"`
	Parameters map[string]json.RawMessage `json:"parameters"`
	Inputs     []legacyWireInput          `json:"inputs"`
	Outputs    []legacyWireOutput         `json:"outputs"`
}

type legacyWireInput struct {
	Name       string                     `json:"name"`
	Shape      []int64                    `json:"shape"`
	Datatype   string                     `json:"datatype"`
	Data       json.RawMessage            `json:"data"`
	Parameters map[string]json.RawMessage `json:"parameters"`
}

type legacyWireOutput struct {
	Name       string                     `json:"name"`
	Parameters map[string]json.RawMessage `json:"parameters"`
}

// unsupportedInputParams are OIP extensions whose data does not travel in the
// JSON "data" field; Talon serves neither.
var legacyUnsupportedInputParams = []string{"binary_data_size", "shared_memory_region"}

// DecodeInferRequest reads one OIP v2 JSON inference request from r: {"id",
// "parameters", "inputs": [{"name", "shape", "datatype", "data", "parameters"}],
// "outputs": [{"name", "parameters"}]}. Unknown fields and parameters are
// ignored, as KServe and Triton do. Input data may be flat or nested like the
// shape (row-major) and is decoded strictly by datatype: integers must be JSON
// integers within the type's range, floats must fit their type (FP32 overflow is
// an error), BOOL takes only true and false. Errors about the request match
// ErrBadRequest; errors from r (such as *http.MaxBytesError) are wrapped as they
// are. DecodeInferRequest does not check the tensors against a model.
func legacyDecodeInferRequest(r io.Reader) (InferRequest, error) {
	var w legacyWireRequest
	dec := json.NewDecoder(r)
	if err := dec.Decode(&w); err != nil {
		return InferRequest{}, legacyJSONError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			return InferRequest{}, fmt.Errorf("%w: data after the request object", ErrBadRequest)
		}
		return InferRequest{}, legacyJSONError(err)
	}
	if len(w.Inputs) == 0 {
		return InferRequest{}, fmt.Errorf("%w: no inputs", ErrBadRequest)
	}
	req := InferRequest{Inputs: make([]inference.Tensor, len(w.Inputs))}
	if w.ID != nil {
		req.ID = *w.ID
	}
	for i, in := range w.Inputs {
		t, err := legacyDecodeInput(in)
		if err != nil {
			return InferRequest{}, fmt.Errorf("%w: input %d (%q): %v", ErrBadRequest, i, in.Name, err)
		}
		req.Inputs[i] = t
	}
	for i, out := range w.Outputs {
		if out.Name == "" {
			return InferRequest{}, fmt.Errorf("%w: output %d has no name", ErrBadRequest, i)
		}
		req.Outputs = append(req.Outputs, out.Name)
	}
	return req, nil
}

// jsonError classifies an encoding/json error: syntax and type errors are the
// client's, anything else came from the reader.
func legacyJSONError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("%w: invalid JSON at byte %d: %v", ErrBadRequest, syn.Offset, err)
	case errors.As(err, &typ):
		return fmt.Errorf("%w: JSON field %q: got a %s, want %s", ErrBadRequest, typ.Field, typ.Value, typ.Type)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: request body is empty or truncated", ErrBadRequest)
	}
	return fmt.Errorf("read request: %w", err)
}

func legacyDecodeInput(in legacyWireInput) (inference.Tensor, error) {
	if in.Name == "" {
		return inference.Tensor{}, errors.New("no name")
	}
	for _, p := range legacyUnsupportedInputParams {
		if _, ok := in.Parameters[p]; ok {
			return inference.Tensor{}, fmt.Errorf("parameter %q: that extension is not supported; send the data as JSON in \"data\"", p)
		}
	}
	if in.Shape == nil {
		return inference.Tensor{}, errors.New("no shape")
	}
	if len(in.Data) == 0 || string(in.Data) == "null" {
		return inference.Tensor{}, errors.New("no data")
	}
	data, err := legacyDecodeData(in.Data, in.Datatype, in.Shape)
	if err != nil {
		return inference.Tensor{}, err
	}
	return inference.Tensor{Name: in.Name, Datatype: in.Datatype, Shape: in.Shape, Data: data}, nil
}

// DecodeData decodes the JSON array raw (flat, or nested exactly like shape) into
// a Go slice of the element type of the OIP datatype dt, checking that it holds
// exactly the number of elements shape describes.
func legacyDecodeData(raw []byte, dt string, shape []int64) (any, error) {
	n, err := legacyElements(shape)
	if err != nil {
		return nil, err
	}
	switch dt {
	case inference.BOOL:
		return legacyCollect(raw, shape, n, dt, legacyParseBool)
	case inference.UINT8:
		return legacyCollect(raw, shape, n, dt, legacyParseUint[uint8](8))
	case inference.UINT16:
		return legacyCollect(raw, shape, n, dt, legacyParseUint[uint16](16))
	case inference.UINT32:
		return legacyCollect(raw, shape, n, dt, legacyParseUint[uint32](32))
	case inference.UINT64:
		return legacyCollect(raw, shape, n, dt, legacyParseUint[uint64](64))
	case inference.INT8:
		return legacyCollect(raw, shape, n, dt, legacyParseInt[int8](8))
	case inference.INT16:
		return legacyCollect(raw, shape, n, dt, legacyParseInt[int16](16))
	case inference.INT32:
		return legacyCollect(raw, shape, n, dt, legacyParseInt[int32](32))
	case inference.INT64:
		return legacyCollect(raw, shape, n, dt, legacyParseInt[int64](64))
	case inference.FP32:
		return legacyCollect(raw, shape, n, dt, legacyParseFloat[float32](32))
	case inference.FP64:
		return legacyCollect(raw, shape, n, dt, legacyParseFloat[float64](64))
	case "":
		return nil, errors.New("no datatype")
	}
	return nil, fmt.Errorf("datatype %q is not served (served: %v)", dt, inference.Datatypes())
}

// elements returns the number of elements shape describes.
func legacyElements(shape []int64) (int64, error) {
	if len(shape) > MaxRank {
		return 0, fmt.Errorf("shape has %d dimensions, at most %d are allowed", len(shape), MaxRank)
	}
	n := int64(1)
	for i, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("shape %v: dimension %d is negative", shape, i)
		}
		if d > 0 && n > math.MaxInt64/d {
			return 0, fmt.Errorf("shape %v is too large", shape)
		}
		n *= d
	}
	return n, nil
}

// collect walks raw and parses every element with parse.
func legacyCollect[T any](raw []byte, shape []int64, n int64, dt string, parse func([]byte) (T, error)) ([]T, error) {
	// Each element takes at least two bytes ("0,"), so a tiny body cannot make
	// us allocate for a huge claimed shape.
	out := make([]T, 0, min(n, int64(len(raw)/2+1)))
	w := legacyWalker{b: raw, shape: shape, emit: func(tok []byte) error {
		v, err := parse(tok)
		if err != nil {
			return fmt.Errorf("data element %d: %s %w", len(out), tok, err)
		}
		out = append(out, v)
		return nil
	}}
	if err := w.walk(); err != nil {
		return nil, err
	}
	if int64(len(out)) != n {
		return nil, fmt.Errorf("data has %d elements, shape %v needs %d", len(out), shape, n)
	}
	return out, nil
}

func legacyParseBool(tok []byte) (bool, error) {
	switch string(tok) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, errors.New("is not a BOOL (want true or false)")
}

func legacyParseInt[T signed](bits int) func([]byte) (T, error) {
	return func(tok []byte) (T, error) {
		if !legacyIsJSONNumber(tok) {
			return 0, fmt.Errorf("is not a number (INT%d)", bits)
		}
		v, err := strconv.ParseInt(string(tok), 10, bits)
		if err != nil {
			return 0, legacyIntError(err, "INT", bits)
		}
		return T(v), nil
	}
}

func legacyParseUint[T unsigned](bits int) func([]byte) (T, error) {
	return func(tok []byte) (T, error) {
		if !legacyIsJSONNumber(tok) {
			return 0, fmt.Errorf("is not a number (UINT%d)", bits)
		}
		if tok[0] == '-' && legacyIsInteger(tok) {
			return 0, fmt.Errorf("is out of range for UINT%d", bits)
		}
		v, err := strconv.ParseUint(string(tok), 10, bits)
		if err != nil {
			return 0, legacyIntError(err, "UINT", bits)
		}
		return T(v), nil
	}
}

func legacyIntError(err error, kind string, bits int) error {
	if errors.Is(err, strconv.ErrRange) {
		return fmt.Errorf("is out of range for %s%d", kind, bits)
	}
	return fmt.Errorf("is not an integer (%s%d)", kind, bits)
}

func legacyParseFloat[T float](bits int) func([]byte) (T, error) {
	return func(tok []byte) (T, error) {
		if !legacyIsJSONNumber(tok) {
			return 0, fmt.Errorf("is not a number (FP%d)", bits)
		}
		v, err := strconv.ParseFloat(string(tok), bits)
		if err != nil && !(errors.Is(err, strconv.ErrRange) && !math.IsInf(v, 0)) {
			return 0, fmt.Errorf("is out of range for FP%d", bits)
		}
		return T(v), nil // underflow rounds to zero, as in every JSON decoder
	}
}

// isInteger reports whether the JSON number tok has no fraction or exponent.
func legacyIsInteger(tok []byte) bool {
	for _, c := range tok {
		if c == '.' || c == 'e' || c == 'E' {
			return false
		}
	}
	return true
}

// isJSONNumber reports whether tok is a number in JSON's grammar (strconv also
// takes forms such as 0x1p3, Inf and 1_000 that JSON does not).
func legacyIsJSONNumber(tok []byte) bool {
	i := 0
	digits := func() int {
		j := i
		for i < len(tok) && tok[i] >= '0' && tok[i] <= '9' {
			i++
		}
		return i - j
	}
	if i < len(tok) && tok[i] == '-' {
		i++
	}
	if i < len(tok) && tok[i] == '0' {
		i++
	} else if digits() == 0 {
		return false
	}
	if i < len(tok) && tok[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(tok) && (tok[i] == 'e' || tok[i] == 'E') {
		i++
		if i < len(tok) && (tok[i] == '+' || tok[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(tok)
}
