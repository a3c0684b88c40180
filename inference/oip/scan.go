package oip

import (
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/eaglenotifier/talon/inference"
)

// decodeFast decodes body, a whole request, when it has the usual shape: keys
// spelled exactly as the fields (no escapes, no other case), each field at
// most once; "id" a string or null; "inputs" an array of objects with string
// "name" and "datatype", "shape" an array of integers of at most 18 digits,
// any "data"; "outputs" null or an array of objects with a string "name";
// "parameters" objects or null; strings without escapes; nesting at most
// maxSkipDepth deep. ok is false for anything else, valid or not, and the
// caller asks decodeStrict. When ok, req and err are what decodeStrict
// returns for body: the checks after JSON decoding (build) are shared, and
// FuzzDecodeVsLegacy compares the two.
func decodeFast(body []byte) (req InferRequest, ok bool, err error) {
	s := scanner{b: body}
	var w wireRequest
	if !s.request(&w) {
		return InferRequest{}, false, nil
	}
	req, err = build(&w)
	return req, true, err
}

// maxSkipDepth bounds the nesting of values decodeFast takes; deeper ones
// (allowed up to encoding/json's limit) go to decodeStrict.
const maxSkipDepth = 64

// The fields of each object, as encoding/json matches them (exactly, then
// ignoring case): decodeFast declines a key that matches only ignoring case.
var (
	requestFields = []string{"id", "parameters", "inputs", "outputs"}
	inputFields   = []string{"name", "shape", "datatype", "data", "parameters"}
	outputFields  = []string{"name", "parameters"}
)

// Results of field besides a field's index.
const (
	unknownField = -1
	foldedField  = -2 // matches a field only ignoring case, or may (non-ASCII)
)

// scanner reads JSON from b at i, strictly (RFC 8259), never panicking.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) request(w *wireRequest) bool {
	s.space()
	if !s.eat('{') {
		return false
	}
	var seen uint8
	ok := s.object(func(key []byte) bool {
		f, ok := field(key, requestFields, &seen)
		switch {
		case !ok:
			return false
		case f == 0:
			if s.null() {
				return true
			}
			v, ok := s.str()
			if ok {
				id := string(v)
				w.ID = &id
			}
			return ok
		case f == 1:
			return s.params(nil)
		case f == 2:
			return s.inputs(w)
		case f == 3:
			return s.outputs(w)
		}
		return s.skip(0)
	})
	s.space()
	return ok && s.i == len(s.b)
}

func (s *scanner) inputs(w *wireRequest) bool {
	if !s.eat('[') {
		return false
	}
	return s.array(func() bool {
		if !s.eat('{') {
			return false
		}
		w.Inputs = append(w.Inputs, wireInput{})
		return s.input(&w.Inputs[len(w.Inputs)-1])
	})
}

func (s *scanner) input(in *wireInput) bool {
	var seen uint8
	return s.object(func(key []byte) bool {
		f, ok := field(key, inputFields, &seen)
		switch {
		case !ok:
			return false
		case f == 0:
			v, ok := s.str()
			if ok {
				in.Name = string(v)
			}
			return ok
		case f == 1:
			return s.shape(in)
		case f == 2:
			v, ok := s.str()
			if ok {
				in.Datatype = datatypeString(v)
			}
			return ok
		case f == 3:
			start := s.i
			ok := s.skip(0)
			in.Data = s.b[start:s.i]
			return ok
		case f == 4:
			return s.params(in)
		}
		return s.skip(0)
	})
}

// shape reads an array of integers; it is never nil, as with encoding/json.
func (s *scanner) shape(in *wireInput) bool {
	if !s.eat('[') {
		return false
	}
	in.Shape = make([]int64, 0, 4)
	return s.array(func() bool {
		v, ok := s.int()
		in.Shape = append(in.Shape, v)
		return ok
	})
}

func (s *scanner) outputs(w *wireRequest) bool {
	if s.null() {
		return true
	}
	if !s.eat('[') {
		return false
	}
	return s.array(func() bool {
		if !s.eat('{') {
			return false
		}
		var out wireOutput
		var seen uint8
		ok := s.object(func(key []byte) bool {
			f, ok := field(key, outputFields, &seen)
			switch {
			case !ok:
				return false
			case f == 0:
				v, ok := s.str()
				if ok {
					out.Name = string(v)
				}
				return ok
			case f == 1:
				return s.params(nil)
			}
			return s.skip(0)
		})
		w.Outputs = append(w.Outputs, out)
		return ok
	})
}

// params reads a "parameters" object or null, noting in in's parameters
// (if in is not nil) the unsupported ones that decodeInput refuses.
func (s *scanner) params(in *wireInput) bool {
	if s.null() {
		return true
	}
	if !s.eat('{') {
		return false
	}
	return s.object(func(key []byte) bool {
		if in != nil && (string(key) == unsupportedInputParams[0] || string(key) == unsupportedInputParams[1]) {
			if in.Parameters == nil {
				in.Parameters = make(map[string]json.RawMessage)
			}
			in.Parameters[string(key)] = nil
		}
		return s.skip(1)
	})
}

// field returns the index of key in fields, or unknownField; ok is false if
// key is a field seen before (encoding/json would let the later one win, or
// merge parameters) or one that may match a field ignoring case.
func field(key []byte, fields []string, seen *uint8) (f int, ok bool) {
	for i, name := range fields {
		if string(key) == name {
			if *seen&(1<<i) != 0 {
				return i, false
			}
			*seen |= 1 << i
			return i, true
		}
	}
	for _, c := range key {
		if c >= utf8.RuneSelf { // encoding/json folds ſ to s, K (Kelvin) to k, …
			return foldedField, false
		}
	}
	for _, name := range fields {
		if strings.EqualFold(string(key), name) {
			return foldedField, false
		}
	}
	return unknownField, true
}

// datatypeString returns v as a string, without allocating for a served
// datatype.
func datatypeString(v []byte) string {
	for _, dt := range servedDatatypes {
		if string(v) == dt {
			return dt
		}
	}
	return string(v)
}

var servedDatatypes = inference.Datatypes()
