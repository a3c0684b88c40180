package oip

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/eaglenotifier/talon/inference"
)

// sameAnswer fails t unless got and want are the same request, or errors with
// the same message and class.
func sameAnswer(t *testing.T, what string, got InferRequest, gotErr error, want InferRequest, wantErr error) {
	t.Helper()
	switch {
	case (gotErr == nil) != (wantErr == nil):
		t.Fatalf("%s: err = %v, want %v", what, gotErr, wantErr)
	case gotErr != nil:
		if gotErr.Error() != wantErr.Error() || errors.Is(gotErr, ErrBadRequest) != errors.Is(wantErr, ErrBadRequest) {
			t.Fatalf("%s: err = %v, want %v", what, gotErr, wantErr)
		}
	default:
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("%s: (-want +got):\n%s", what, d)
		}
	}
}

// legacyDecode is legacyDecodeInferRequest with its errors naming the
// decoder's types as they were named (wireRequest, not legacyWireRequest).
func legacyDecode(r io.Reader) (InferRequest, error) {
	req, err := legacyDecodeInferRequest(r)
	if err != nil {
		return req, renamedError{strings.ReplaceAll(err.Error(), "legacyWire", "wire"), err}
	}
	return req, nil
}

type renamedError struct {
	msg string
	err error
}

func (e renamedError) Error() string { return e.msg }
func (e renamedError) Unwrap() error { return e.err }

// usualRequests are requests decodeFast must take itself (including ones
// whose tensors are wrong: those errors come from the shared checks).
var usualRequests = []string{
	benchBody,
	`{"inputs":[{"name":"sensors","datatype":"FP32","shape":[2,6],"data":[0.5,1,2,3,4,5,6,7,8,9,10,11e-3]}]}`,
	`{"id":"a1","parameters":{"binary_data_output":true,"x":[1,{"y":null}]},"inputs":[
		{"name":"x","shape":[1,2],"datatype":"BOOL","data":[[true,false]]},
		{"name":"y","shape":[],"datatype":"FP64","data":2.5,"extra":"ignored"}],
		"outputs":[{"name":"p","parameters":{"binary_data":true}},{"name":"q"}]}`,
	" \t\r\n{ \"id\" : null , \"inputs\" : [ { \"data\" : [ 1 , 2 ] , \"shape\" : [ 2 ] , \"datatype\" : \"INT64\" , \"name\" : \"é\" } ] , \"outputs\" : null } \n",
	`{"inputs":[{"name":"u","shape":[3],"datatype":"UINT8","data":[0,255,7]},{"name":"i","shape":[1,1,1],"datatype":"INT32","data":[[[-2147483648]]]}]}`,
	`{"inputs":[{"name":"x","shape":[1],"datatype":"INT64","data":[1.5]}]}`,
	`{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[3.5e38]}]}`,
	`{"inputs":[{"name":"x","shape":[2,2],"datatype":"FP32","data":[[1,2],[3]]}]}`,
	`{"inputs":[{"name":"x","shape":[1],"datatype":"FP16","data":[1]}]}`,
	`{"inputs":[{"name":"x","shape":[-1],"datatype":"FP32","data":[1]}]}`,
	`{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":null}]}`,
	`{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":["NaN"]}]}`,
	`{"inputs":[{"name":"","shape":[1],"datatype":"FP32","data":[1]}]}`,
	`{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1],"parameters":{"shared_memory_region":"r","binary_data_size":4}}]}`,
	`{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}],"outputs":[{"name":""}]}`,
	`{"inputs":[]}`, `{}`, `{"unknown":{"inputs":5}}`,
}

func TestDecodeFastTakesUsualRequests(t *testing.T) {
	for _, body := range usualRequests {
		got, ok, err := decodeFast([]byte(body))
		if !ok {
			t.Errorf("decodeFast declined %s", body)
			continue
		}
		want, wantErr := legacyDecode(strings.NewReader(body))
		sameAnswer(t, body, got, err, want, wantErr)
	}
}

func TestDecodeFastDeclinesTheUnusual(t *testing.T) {
	for _, body := range []string{
		``, ` `, `null`, `[]`, `{"inputs":null}`, `{"inputs":[null]}`, `{"id":5,"inputs":[]}`,
		`{"ID":"a","inputs":[]}`, `{"Inputs":[]}`, `{"inputſ":[]}`, `{"i\u006eputs":[]}`,
		`{"id":"a","id":"b","inputs":[]}`, `{"id":"a\nb"}`, `{"id":"\u00e9"}`, "{\"id\":\"\xff\"}",
		`{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1],"shape":[1]}]}`,
		`{"inputs":[{"Name":"x","shape":[1],"datatype":"FP32","data":[1]}]}`,
		`{"inputs":[{"name":"x","shape":[1.0],"datatype":"FP32","data":[1]}]}`,
		`{"inputs":[{"name":"x","shape":[1234567890123456789],"datatype":"FP32","data":[1]}]}`,
		`{"inputs":[{"name":"x","shape":[null],"datatype":"FP32","data":[1]}]}`,
		`{"inputs":[{"name":null,"shape":[1],"datatype":"FP32","data":[1]}]}`,
		`{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1],"parameters":{"binary_data_size":1},"parameters":null}]}`,
		`{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1],"parameters":5}]}`,
		`{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[01]}]}`,
		`{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]} x`,
		`{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]}{}`,
		`{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}],}`,
		`{"p":` + strings.Repeat("[", maxSkipDepth+1) + strings.Repeat("]", maxSkipDepth+1) + `}`,
	} {
		if _, ok, _ := decodeFast([]byte(body)); ok {
			t.Errorf("decodeFast took %q", body)
		}
		got, err := DecodeInferRequest(strings.NewReader(body))
		want, wantErr := legacyDecode(strings.NewReader(body))
		sameAnswer(t, body, got, err, want, wantErr)
	}
}

// A body that fails to arrive gets the answer the streaming decoder gave:
// a syntax error before the failure is the client's, else the reader's error.
func TestDecodeRequestReadError(t *testing.T) {
	boom := errors.New("connection reset")
	for _, data := range []string{
		``, `{"inputs":[`, `{"inputs":x`, benchBody, benchBody + ` `, benchBody + `{`, `{"id":"` + strings.Repeat("a", 5000),
	} {
		got, err := DecodeInferRequest(&failingReader{data: []byte(data), err: boom})
		want, wantErr := legacyDecode(&failingReader{data: []byte(data), err: boom})
		sameAnswer(t, data, got, err, want, wantErr)
	}
	// Through http.MaxBytesReader, as the server reads: too large is a
	// *http.MaxBytesError (413) unless a syntax error comes first.
	for _, data := range []string{benchBody + strings.Repeat(" ", 100), `{"inputs":x` + strings.Repeat(" ", 100), strings.Repeat(" ", 100)} {
		limit := func() io.Reader {
			return http.MaxBytesReader(httptest.NewRecorder(), io.NopCloser(strings.NewReader(data)), int64(len(benchBody)+10))
		}
		got, err := decodeRequest(limit(), int64(len(data)))
		want, wantErr := legacyDecode(limit())
		sameAnswer(t, data, got, err, want, wantErr)
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) == errors.Is(err, ErrBadRequest) {
			t.Errorf("%.20q: err = %v: want exactly one of too large and bad request", data, err)
		}
	}
}

// Decoded requests own their memory: the pooled body buffer they were read
// from is overwritten by the next request.
func TestDecodeRequestDoesNotAlias(t *testing.T) {
	first := `{"id":"first","inputs":[{"name":"alpha","shape":[2],"datatype":"FP64","data":[1.5,2.5]}],"outputs":[{"name":"out1"}]}`
	want := InferRequest{ID: "first", Inputs: []inference.Tensor{{Name: "alpha", Datatype: "FP64", Shape: []int64{2}, Data: []float64{1.5, 2.5}}}, Outputs: []string{"out1"}}
	got, err := decodeRequest(strings.NewReader(first), int64(len(first)))
	if err != nil {
		t.Fatal(err)
	}
	overwrite := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' {
			return 'z'
		}
		return r
	}, first)
	for range 100 { // the pool may hand the buffer to any of these
		if _, err := decodeRequest(strings.NewReader(overwrite), int64(len(overwrite))); err == nil {
			t.Fatal("the overwriting request decoded")
		}
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
}

// FuzzDecodeVsLegacy checks that DecodeInferRequest answers every body as
// the decoder before the fast path did (legacyDecode), and that
// decodeFast, when it takes a body, answers as decodeStrict.
func FuzzDecodeVsLegacy(f *testing.F) {
	for _, s := range usualRequests {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"inputs":[{"name":"x","shape":[1,2],"datatype":"INT8","data":[[127,-128]]}],"outputs":[{"name":"y"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := DecodeInferRequest(bytes.NewReader(body))
		want, wantErr := legacyDecode(bytes.NewReader(body))
		sameAnswer(t, "DecodeInferRequest vs legacy", got, err, want, wantErr)
		if fast, ok, fastErr := decodeFast(body); ok {
			strict, strictErr := decodeStrict(bytes.NewReader(body))
			sameAnswer(t, "decodeFast vs decodeStrict", fast, fastErr, strict, strictErr)
		}
	})
}

// FuzzDecodeUsualVsLegacy is FuzzDecodeVsLegacy on bodies of the usual shape
// built from fuzzed parts (spliced in raw, so they may break it), so that most
// of them take the fast path: the field order, one extra member at some level,
// and the values of id, name, shape, datatype and data.
func FuzzDecodeUsualVsLegacy(f *testing.F) {
	f.Add(uint8(0), "parameters", `{"a":[1]}`, `"b"`, "X", "[1,4]", "FP32", "[[6.2,2.9,4.3,1.3]]")
	f.Add(uint8(7), "extra", `null`, `null`, "x", "[2]", "INT64", "[9223372036854775807,-9223372036854775808]")
	f.Add(uint8(13), "binary_data_size", `4`, `"é"`, "b", "[]", "BOOL", "true")
	f.Add(uint8(22), "outputs", `[{"name":"o"}]`, `"id"`, "u", "[1,1,1]", "UINT16", "[[[65535]]]")
	f.Fuzz(func(t *testing.T, order uint8, key, val, id, name, shape, dt, data string) {
		input := []string{`"name":"` + name + `"`, `"shape":` + shape, `"datatype":"` + dt + `"`, `"data":` + data}
		rotate := int(order) % len(input)
		input = append(input[rotate:], input[:rotate]...)
		extra := `"` + key + `":` + val
		request := []string{`"id":` + id, ""}
		switch order / 4 % 4 { // where the extra member goes
		case 0:
			request[1] = extra
		case 1:
			input = append(input, extra)
		case 2:
			input = append(input, `"parameters":{`+extra+`}`)
		}
		request[1] = strings.Trim(request[1]+`,"inputs":[{`+strings.Join(input, ",")+`}]`, ",")
		if order/16%2 == 1 {
			request[0], request[1] = request[1], request[0]
		}
		body := []byte("{" + strings.Join(request, ",") + "}")
		got, err := DecodeInferRequest(bytes.NewReader(body))
		want, wantErr := legacyDecode(bytes.NewReader(body))
		sameAnswer(t, "DecodeInferRequest vs legacy", got, err, want, wantErr)
		if fast, ok, fastErr := decodeFast(body); ok {
			strict, strictErr := decodeStrict(bytes.NewReader(body))
			sameAnswer(t, "decodeFast vs decodeStrict", fast, fastErr, strict, strictErr)
		}
	})
}
