package oip

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/eaglenotifier/talon/inference"
)

// ErrBadRequest is matched by every error DecodeInferRequest returns because the
// request is malformed (as opposed to the reader failing).
var ErrBadRequest = errors.New("bad request")

// MaxRank is the largest number of dimensions a request tensor may have.
const MaxRank = 32

// InferRequest is a decoded OIP v2 inference request.
type InferRequest struct {
	// ID is the client's request id ("" if it sent none).
	ID string
	// Inputs holds the input tensors with typed, row-major data.
	Inputs []inference.Tensor
	// Outputs names the requested outputs; empty means every output.
	Outputs []string
}

// wireRequest is a request as JSON has it, before its tensors are checked.
type wireRequest struct {
	ID         *string                    `json:"id"`
	Parameters map[string]json.RawMessage `json:"parameters"`
	Inputs     []wireInput                `json:"inputs"`
	Outputs    []wireOutput               `json:"outputs"`
}

type wireInput struct {
	Name       string                     `json:"name"`
	Shape      []int64                    `json:"shape"`
	Datatype   string                     `json:"datatype"`
	Data       json.RawMessage            `json:"data"`
	Parameters map[string]json.RawMessage `json:"parameters"`
}

type wireOutput struct {
	Name       string                     `json:"name"`
	Parameters map[string]json.RawMessage `json:"parameters"`
}

// unsupportedInputParams are OIP extensions whose data does not travel in the
// JSON "data" field; Talon serves neither.
var unsupportedInputParams = []string{"binary_data_size", "shared_memory_region"}

// DecodeInferRequest reads one OIP v2 JSON inference request from r: {"id",
// "parameters", "inputs": [{"name", "shape", "datatype", "data", "parameters"}],
// "outputs": [{"name", "parameters"}]}. Unknown fields and parameters are
// ignored, as KServe and Triton do. Input data may be flat or nested like the
// shape (row-major) and is decoded strictly by datatype: integers must be JSON
// integers within the type's range, floats must fit their type (FP32 overflow is
// an error), BOOL takes only true and false. Errors about the request match
// ErrBadRequest; errors from r (such as *http.MaxBytesError) are wrapped as they
// are. DecodeInferRequest does not check the tensors against a model.
//
// It reads r to its end into a pooled buffer and decodes the usual request
// shape with a scanner over the bytes (decodeFast); anything else (escaped or
// case-folded keys, duplicate fields, unusual types, a read error) goes through
// encoding/json (decodeStrict). Both give the same answer for every input.
func DecodeInferRequest(r io.Reader) (InferRequest, error) {
	return decodeRequest(r, -1)
}

// Body buffers: bodies up to maxPooledBody are read into pooled buffers;
// sizeHint (Content-Length) presizes one up to maxPresize, so that a client
// announcing a large body costs memory only as the bytes arrive.
const (
	maxPooledBody = 256 << 10
	maxPresize    = 64 << 10
)

var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// decodeRequest is DecodeInferRequest with the body's announced size (-1 if
// unknown).
func decodeRequest(r io.Reader, sizeHint int64) (InferRequest, error) {
	bp := bodyPool.Get().(*[]byte)
	b, err := readAll((*bp)[:0], r, sizeHint)
	defer func() {
		if cap(b) <= maxPooledBody {
			*bp = b[:0]
			bodyPool.Put(bp)
		}
	}()
	if err != nil {
		// The strict decoder, fed what arrived and then the error, answers
		// exactly as it would have reading r itself (a syntax error before the
		// failure point is still the client's).
		return decodeStrict(io.MultiReader(bytes.NewReader(b), errReader{err}))
	}
	if req, ok, err := decodeFast(b); ok {
		return req, err
	}
	return decodeStrict(bytes.NewReader(b))
}

// readAll appends all of r to b; unlike io.ReadAll it reuses b's capacity.
func readAll(b []byte, r io.Reader, sizeHint int64) ([]byte, error) {
	if sizeHint >= int64(cap(b)) && sizeHint < maxPresize {
		b = slices.Grow(b, int(sizeHint)+1) // +1: room for the read that sees EOF
	}
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// decodeStrict decodes a request with encoding/json.
func decodeStrict(r io.Reader) (InferRequest, error) {
	var w wireRequest
	dec := json.NewDecoder(r)
	if err := dec.Decode(&w); err != nil {
		return InferRequest{}, jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			return InferRequest{}, fmt.Errorf("%w: data after the request object", ErrBadRequest)
		}
		return InferRequest{}, jsonError(err)
	}
	return build(&w)
}

// build checks a decoded request and decodes its tensors' data.
func build(w *wireRequest) (InferRequest, error) {
	if len(w.Inputs) == 0 {
		return InferRequest{}, fmt.Errorf("%w: no inputs", ErrBadRequest)
	}
	req := InferRequest{Inputs: make([]inference.Tensor, len(w.Inputs))}
	if w.ID != nil {
		req.ID = *w.ID
	}
	for i := range w.Inputs {
		in := &w.Inputs[i]
		t, err := decodeInput(in)
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
func jsonError(err error) error {
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

func decodeInput(in *wireInput) (inference.Tensor, error) {
	if in.Name == "" {
		return inference.Tensor{}, errors.New("no name")
	}
	for _, p := range unsupportedInputParams {
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
	data, err := DecodeData(in.Data, in.Datatype, in.Shape)
	if err != nil {
		return inference.Tensor{}, err
	}
	return inference.Tensor{Name: in.Name, Datatype: in.Datatype, Shape: in.Shape, Data: data}, nil
}
