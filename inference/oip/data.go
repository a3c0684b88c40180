package oip

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/eaglenotifier/talon/inference"
)

// DecodeData decodes the JSON array raw (flat, or nested exactly like shape) into
// a Go slice of the element type of the OIP datatype dt, checking that it holds
// exactly the number of elements shape describes.
func DecodeData(raw []byte, dt string, shape []int64) (any, error) {
	n, err := elements(shape)
	if err != nil {
		return nil, err
	}
	switch dt {
	case inference.BOOL:
		return collect(raw, shape, n, parseBool)
	case inference.UINT8:
		return collect(raw, shape, n, parseUint8)
	case inference.UINT16:
		return collect(raw, shape, n, parseUint16)
	case inference.UINT32:
		return collect(raw, shape, n, parseUint32)
	case inference.UINT64:
		return collect(raw, shape, n, parseUint64)
	case inference.INT8:
		return collect(raw, shape, n, parseInt8)
	case inference.INT16:
		return collect(raw, shape, n, parseInt16)
	case inference.INT32:
		return collect(raw, shape, n, parseInt32)
	case inference.INT64:
		return collect(raw, shape, n, parseInt64)
	case inference.FP32:
		return collect(raw, shape, n, parseFP32)
	case inference.FP64:
		return collect(raw, shape, n, parseFP64)
	case "":
		return nil, errors.New("no datatype")
	}
	return nil, fmt.Errorf("datatype %q is not served (served: %v)", dt, inference.Datatypes())
}

// elements returns the number of elements shape describes.
func elements(shape []int64) (int64, error) {
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
func collect[T any](raw []byte, shape []int64, n int64, parse func([]byte) (T, error)) ([]T, error) {
	// Each element takes at least two bytes ("0,"), so a tiny body cannot make
	// us allocate for a huge claimed shape.
	w := walker[T]{b: raw, shape: shape, out: make([]T, 0, min(n, int64(len(raw)/2+1))), parse: parse}
	if err := w.walk(); err != nil {
		return nil, err
	}
	if int64(len(w.out)) != n {
		return nil, fmt.Errorf("data has %d elements, shape %v needs %d", len(w.out), shape, n)
	}
	return w.out, nil
}

// The element parsers of each datatype.
func parseUint8(tok []byte) (uint8, error)   { return parseUint[uint8](tok, 8) }
func parseUint16(tok []byte) (uint16, error) { return parseUint[uint16](tok, 16) }
func parseUint32(tok []byte) (uint32, error) { return parseUint[uint32](tok, 32) }
func parseUint64(tok []byte) (uint64, error) { return parseUint[uint64](tok, 64) }
func parseInt8(tok []byte) (int8, error)     { return parseInt[int8](tok, 8) }
func parseInt16(tok []byte) (int16, error)   { return parseInt[int16](tok, 16) }
func parseInt32(tok []byte) (int32, error)   { return parseInt[int32](tok, 32) }
func parseInt64(tok []byte) (int64, error)   { return parseInt[int64](tok, 64) }
func parseFP32(tok []byte) (float32, error)  { return parseFloat[float32](tok, 32) }
func parseFP64(tok []byte) (float64, error)  { return parseFloat[float64](tok, 64) }

func parseBool(tok []byte) (bool, error) {
	switch string(tok) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, errors.New("is not a BOOL (want true or false)")
}

type signed interface {
	~int8 | ~int16 | ~int32 | ~int64
}
type unsigned interface {
	~uint8 | ~uint16 | ~uint32 | ~uint64
}
type float interface{ ~float32 | ~float64 }

func parseInt[T signed](tok []byte, bits int) (T, error) {
	if !isJSONNumber(tok) {
		return 0, fmt.Errorf("is not a number (INT%d)", bits)
	}
	v, err := strconv.ParseInt(string(tok), 10, bits)
	if err != nil {
		return 0, intError(err, "INT", bits)
	}
	return T(v), nil
}

func parseUint[T unsigned](tok []byte, bits int) (T, error) {
	if !isJSONNumber(tok) {
		return 0, fmt.Errorf("is not a number (UINT%d)", bits)
	}
	if tok[0] == '-' && isInteger(tok) {
		return 0, fmt.Errorf("is out of range for UINT%d", bits)
	}
	v, err := strconv.ParseUint(string(tok), 10, bits)
	if err != nil {
		return 0, intError(err, "UINT", bits)
	}
	return T(v), nil
}

func intError(err error, kind string, bits int) error {
	if errors.Is(err, strconv.ErrRange) {
		return fmt.Errorf("is out of range for %s%d", kind, bits)
	}
	return fmt.Errorf("is not an integer (%s%d)", kind, bits)
}

func parseFloat[T float](tok []byte, bits int) (T, error) {
	if !isJSONNumber(tok) {
		return 0, fmt.Errorf("is not a number (FP%d)", bits)
	}
	v, err := strconv.ParseFloat(string(tok), bits)
	if err != nil && !(errors.Is(err, strconv.ErrRange) && !math.IsInf(v, 0)) {
		return 0, fmt.Errorf("is out of range for FP%d", bits)
	}
	return T(v), nil // underflow rounds to zero, as in every JSON decoder
}

// isInteger reports whether the JSON number tok has no fraction or exponent.
func isInteger(tok []byte) bool {
	for _, c := range tok {
		if c == '.' || c == 'e' || c == 'E' {
			return false
		}
	}
	return true
}

// isJSONNumber reports whether tok is a number in JSON's grammar (strconv also
// takes forms such as 0x1p3, Inf and 1_000 that JSON does not).
func isJSONNumber(tok []byte) bool {
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
