package oip

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/eaglenotifier/talon/inference"
)

func TestDecodeData(t *testing.T) {
	tests := []struct {
		name, raw, dt string
		shape         []int64
		want          any
		err           string
	}{
		{"flat", `[1, 2.5, -3e2, 0]`, "FP32", []int64{2, 2}, []float32{1, 2.5, -300, 0}, ""},
		{"nested", "[[1,2,3],\n [4,5,6]]", "INT32", []int64{2, 3}, []int32{1, 2, 3, 4, 5, 6}, ""},
		{"nested 3", `[[[1],[2]],[[3],[4]]]`, "INT64", []int64{2, 2, 1}, []int64{1, 2, 3, 4}, ""},
		{"scalar bare", `7`, "INT16", []int64{}, []int16{7}, ""},
		{"scalar in array", `[7]`, "INT16", []int64{}, []int16{7}, ""},
		{"empty", `[]`, "FP64", []int64{0, 4}, []float64{}, ""},
		{"bool", `[true,false]`, "BOOL", []int64{2}, []bool{true, false}, ""},
		{"int64 extremes", `[-9223372036854775808, 9223372036854775807]`, "INT64", []int64{2}, []int64{math.MinInt64, math.MaxInt64}, ""},
		{"uint64 max", `[18446744073709551615]`, "UINT64", []int64{1}, []uint64{math.MaxUint64}, ""},
		{"int8 range", `[-128,127]`, "INT8", []int64{2}, []int8{-128, 127}, ""},
		{"uint16", `[65535]`, "UINT16", []int64{1}, []uint16{65535}, ""},
		{"uint32", `[4294967295]`, "UINT32", []int64{1}, []uint32{4294967295}, ""},
		{"fp32 underflow is zero", `[1e-50]`, "FP32", []int64{1}, []float32{0}, ""},
		{"fp64", `[1.7976931348623157e308]`, "FP64", []int64{1}, []float64{math.MaxFloat64}, ""},

		{"int fraction", `[1.5]`, "INT64", []int64{1}, nil, "1.5 is not an integer (INT64)"},
		{"int exponent", `[1e3]`, "INT32", []int64{1}, nil, "1e3 is not an integer (INT32)"},
		{"int64 overflow", `[9223372036854775808]`, "INT64", []int64{1}, nil, "out of range for INT64"},
		{"int8 overflow", `[-129]`, "INT8", []int64{1}, nil, "-129 is out of range for INT8"},
		{"uint negative", `[-1]`, "UINT32", []int64{1}, nil, "-1 is out of range for UINT32"},
		{"uint fraction", `[-1.5]`, "UINT32", []int64{1}, nil, "not an integer"},
		{"fp32 overflow", `[3.5e38]`, "FP32", []int64{1}, nil, "3.5e38 is out of range for FP32"},
		{"fp64 overflow", `[1e309]`, "FP64", []int64{1}, nil, "out of range for FP64"},
		{"bool number", `[1]`, "BOOL", []int64{1}, nil, "1 is not a BOOL"},
		{"number bool", `[true]`, "FP32", []int64{1}, nil, "true is not a number"},
		{"null", `[null]`, "FP32", []int64{1}, nil, "null is not a number"},
		{"string", `["1"]`, "FP32", []int64{1}, nil, "string"},
		{"object", `[{}]`, "FP32", []int64{1}, nil, "unexpected"},
		{"not JSON number", `[0x10]`, "INT32", []int64{1}, nil, "unexpected"},
		{"leading zero", `[01]`, "INT32", []int64{1}, nil, "is not a number"},
		{"Inf", `[inf]`, "FP32", []int64{1}, nil, "inf is not a number"},
		{"too few", `[1,2,3]`, "FP32", []int64{2, 2}, nil, "data has 3 elements, shape [2 2] needs 4"},
		{"too many", `[1,2,3,4,5]`, "FP32", []int64{2, 2}, nil, "data has 5 elements"},
		{"ragged", `[[1,2],[3]]`, "FP32", []int64{2, 2}, nil, "data has 1 elements in dimension 1"},
		{"nested too deep", `[[[1]],[[2]]]`, "FP32", []int64{2, 1}, nil, "nests deeper"},
		{"nested short rank", `[[1,2],[3,4]]`, "FP32", []int64{4}, nil, "nests deeper"},
		{"nested too many rows", `[[1],[2],[3]]`, "FP32", []int64{2, 1}, nil, "more than 2 elements"},
		{"mixed", `[1,[2]]`, "FP32", []int64{2}, nil, "mixes arrays and numbers"},
		{"mixed nested", `[[1],2]`, "FP32", []int64{2, 1}, nil, "must be arrays"},
		{"scalar for tensor", `5`, "FP32", []int64{1}, nil, "must be an array"},
		{"negative dim", `[]`, "FP32", []int64{-1, 4}, nil, "negative"},
		{"too many dims", `[]`, "FP32", make([]int64, MaxRank+1), nil, "dimensions"},
		{"overflowing shape", `[1]`, "FP32", []int64{1 << 40, 1 << 40}, nil, "too large"},
		{"huge shape, tiny data", `[1]`, "FP32", []int64{1 << 40}, nil, "needs 1099511627776"},
		{"truncated", `[1,2`, "FP32", []int64{2}, nil, "truncated"},
		{"trailing", `[1,2] 3`, "FP32", []int64{2}, nil, "trailing"},
		{"no datatype", `[1]`, "", []int64{1}, nil, "no datatype"},
		{"FP16", `[1]`, "FP16", []int64{1}, nil, `"FP16" is not served`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeData([]byte(tt.raw), tt.dt, tt.shape)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Fatalf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestDecodeInferRequest(t *testing.T) {
	got, err := DecodeInferRequest(strings.NewReader(`{"id":"a1","parameters":{"binary_data_output":true},"inputs":[
		{"name":"x","shape":[1,2],"datatype":"BOOL","data":[[true,false]]},
		{"name":"y","shape":[],"datatype":"FP64","data":2.5,"extra":"ignored"}],
		"outputs":[{"name":"p","parameters":{"binary_data":true}},{"name":"q"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := InferRequest{ID: "a1", Inputs: []inference.Tensor{
		{Name: "x", Datatype: "BOOL", Shape: []int64{1, 2}, Data: []bool{true, false}},
		{Name: "y", Datatype: "FP64", Shape: []int64{}, Data: []float64{2.5}},
	}, Outputs: []string{"p", "q"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
	for _, bad := range []string{
		`{"inputs":[{"shape":[1],"datatype":"FP32","data":[1]}]}`,
		`{"inputs":[{"name":"x","datatype":"FP32","data":[1]}]}`,
		`{"inputs":[{"name":"x","shape":[1],"datatype":"FP32"}]}`,
		`{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":null}]}`,
		`{"inputs":[{"name":"x","shape":[1.5],"datatype":"FP32","data":[1]}]}`,
		`{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}],"outputs":[{}]}`,
		`{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1],"parameters":{"shared_memory_region":"r"}}]}`,
		`[]`, `null`, `{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]} x`,
	} {
		if _, err := DecodeInferRequest(strings.NewReader(bad)); !errors.Is(err, ErrBadRequest) {
			t.Errorf("%s: err = %v, want ErrBadRequest", bad, err)
		}
	}
}

func TestDecodeInferRequestReaderError(t *testing.T) {
	boom := errors.New("connection reset")
	_, err := DecodeInferRequest(&failingReader{data: []byte(`{"inputs":[`), err: boom})
	if !errors.Is(err, boom) || errors.Is(err, ErrBadRequest) {
		t.Fatalf("err = %v, want the reader's error and not ErrBadRequest", err)
	}
}

type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestAppendData(t *testing.T) {
	tests := []struct {
		data any
		want string
	}{
		{[]float32{1, 0.1, -2.5e-8, float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}, `[1,0.1,-2.5e-08,"NaN","Infinity","-Infinity"]`},
		{[]float64{1e21, 0.1}, `[1e+21,0.1]`},
		{[]int64{math.MinInt64}, `[-9223372036854775808]`},
		{[]uint64{math.MaxUint64}, `[18446744073709551615]`},
		{[]uint8{0, 255}, `[0,255]`},
		{[]int8{-128}, `[-128]`},
		{[]bool{true, false}, `[true,false]`},
		{[]int32{}, `[]`},
	}
	for _, tt := range tests {
		if got := string(appendData(nil, tt.data)); got != tt.want {
			t.Errorf("appendData(%v) = %s, want %s", tt.data, got, tt.want)
		}
	}
}

func FuzzDecodeInferRequest(f *testing.F) {
	for _, s := range []string{
		`{"id":"a","inputs":[{"name":"X","shape":[2,2],"datatype":"FP32","data":[[1,2],[3,4]]}]}`,
		`{"inputs":[{"name":"b","shape":[],"datatype":"BOOL","data":true}],"outputs":[{"name":"o"}]}`,
		`{"inputs":[{"name":"u","shape":[3],"datatype":"UINT8","data":[0,255,-1]}]}`,
		`{"inputs":[{"name":"i","shape":[1,1,1],"datatype":"INT64","data":[[[9223372036854775807]]]}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := DecodeInferRequest(bytes.NewReader(body))
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("a bytes.Reader cannot fail, yet err = %v", err)
			}
			return
		}
		for _, in := range req.Inputs {
			n, err := elements(in.Shape)
			if err != nil {
				t.Fatalf("accepted shape %v: %v", in.Shape, err)
			}
			if got, _ := inference.MakeData(in.Datatype, 0); got == nil {
				t.Fatalf("accepted datatype %q", in.Datatype)
			}
			if l := lenOf(in.Data); int64(l) != n {
				t.Fatalf("input %q: %d elements for shape %v", in.Name, l, in.Shape)
			}
		}
	})
}

// lenOf is the element count of a decoded data slice, -1 when data is not a slice.
func lenOf(data any) int {
	v := reflect.ValueOf(data)
	if v.Kind() != reflect.Slice {
		return -1
	}
	return v.Len()
}
