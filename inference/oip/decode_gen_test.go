package oip

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/eaglenotifier/talon/inference"
)

// TestDecodeFastRandomRequests generates requests of the usual shape (random
// field order, spacing, ids, parameters, outputs, names, shapes, datatypes and
// values, some of them out of range or of the wrong count) and checks that
// decodeFast takes each and answers as the decoder before it did.
func TestDecodeFastRandomRequests(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	taken, failed := 0, 0
	for i := range 20000 {
		body := genRequest(rng)
		got, ok, err := decodeFast([]byte(body))
		want, wantErr := legacyDecode(strings.NewReader(body))
		if !ok {
			t.Fatalf("request %d: decodeFast declined %s", i, body)
		}
		taken++
		if wantErr != nil {
			failed++
		}
		sameAnswer(t, body, got, err, want, wantErr)
	}
	t.Logf("%d requests, %d of them refused", taken, failed)
	// Both kinds must be well represented for the test to mean something.
	if failed < taken/10 || failed > taken*9/10 {
		t.Fatalf("%d of %d generated requests fail: adjust the generator", failed, taken)
	}
}

func genRequest(rng *rand.Rand) string {
	sp := func() string { return []string{"", "", " ", "\n  ", "\t", "\r\n"}[rng.IntN(6)] }
	members := func(m []string) string {
		rng.Shuffle(len(m), func(i, j int) { m[i], m[j] = m[j], m[i] })
		return "{" + sp() + strings.Join(m, sp()+","+sp()) + sp() + "}"
	}
	var req []string
	switch rng.IntN(3) {
	case 0:
		req = append(req, `"id":`+sp()+strconv.Quote(genName(rng)))
	case 1:
		req = append(req, `"id":null`)
	}
	if rng.IntN(3) == 0 {
		req = append(req, `"parameters":`+genParams(rng))
	}
	if rng.IntN(4) == 0 {
		req = append(req, `"`+[]string{"extra", "model_name", "X_1"}[rng.IntN(3)]+`":[1,{"a":"b"},null,true]`)
	}
	var inputs []string
	for range 1 + rng.IntN(3) {
		inputs = append(inputs, members(genInput(rng)))
	}
	req = append(req, `"inputs":[`+strings.Join(inputs, ",")+`]`)
	switch rng.IntN(4) {
	case 0:
		req = append(req, `"outputs":null`)
	case 1:
		var outs []string
		for range rng.IntN(3) {
			out := []string{`"name":"` + genName(rng) + `"`}
			if rng.IntN(2) == 0 {
				out = append(out, `"parameters":`+genParams(rng))
			}
			outs = append(outs, members(out))
		}
		req = append(req, `"outputs":[`+strings.Join(outs, ",")+`]`)
	}
	return sp() + members(req) + sp()
}

func genName(rng *rand.Rand) string {
	return []string{"X", "sensors", "input_1", "é", "输入", "a b", "", "<&>"}[rng.IntN(8)]
}

func genParams(rng *rand.Rand) string {
	keys := []string{"binary_data_output", "binary_data_size", "shared_memory_region", "x"}
	vals := []string{"true", "1", `"r"`, "{}", "[]", `{"y":[1.5e3,null]}`}
	var m []string
	for range rng.IntN(3) {
		m = append(m, `"`+keys[rng.IntN(len(keys))]+`":`+vals[rng.IntN(len(vals))])
	}
	if rng.IntN(5) == 0 {
		return "null"
	}
	return "{" + strings.Join(m, ",") + "}"
}

// genInput returns the members of an input: usually valid, sometimes with a
// value out of range, an element too many or a datatype not served.
func genInput(rng *rand.Rand) []string {
	dts := inference.Datatypes()
	dt := dts[rng.IntN(len(dts))]
	shape := make([]int64, rng.IntN(4))
	for i := range shape {
		shape[i] = int64(rng.IntN(4))
	}
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	vals := make([]string, n)
	for i := range vals {
		vals[i] = genValue(rng, dt)
	}
	if rng.IntN(20) == 0 {
		vals = append(vals, genValue(rng, dt))
	}
	data := ""
	if rng.IntN(2) == 0 || len(shape) == 0 {
		data = "[" + strings.Join(vals, ",") + "]"
		if len(shape) == 0 && len(vals) == 1 && rng.IntN(2) == 0 {
			data = vals[0]
		}
	} else {
		data = nest(vals, shape)
	}
	if rng.IntN(40) == 0 {
		dt = "FP16"
	}
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = strconv.FormatInt(d, 10)
	}
	return []string{`"name":"` + genName(rng) + `"`, `"shape":[` + strings.Join(dims, ",") + `]`, `"datatype":"` + dt + `"`, `"data":` + data}
}

// nest returns vals as JSON arrays nested like shape.
func nest(vals []string, shape []int64) string {
	if len(shape) == 0 {
		return vals[0]
	}
	inner := int64(1)
	for _, d := range shape[1:] {
		inner *= d
	}
	parts := make([]string, shape[0])
	for i := range parts {
		parts[i] = nest(vals[int64(i)*inner:], shape[1:])
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// genValue returns a JSON value of datatype dt, one in a hundred of them
// wrong for it.
func genValue(rng *rand.Rand, dt string) string {
	if rng.IntN(100) == 0 {
		return []string{"1.5", "1e2", "-1", "true", "null", "3.5e38", "1e309", "18446744073709551616", "-9223372036854775809"}[rng.IntN(9)]
	}
	bits := 64
	if b, err := strconv.Atoi(strings.TrimLeft(dt, "UINTFP")); err == nil {
		bits = b
	}
	switch {
	case dt == inference.BOOL:
		return strconv.FormatBool(rng.IntN(2) == 0)
	case strings.HasPrefix(dt, "UINT"):
		max := uint64(math.MaxUint64) >> (64 - bits)
		return strconv.FormatUint([]uint64{0, 1, max, rng.Uint64() & max}[rng.IntN(4)], 10)
	case strings.HasPrefix(dt, "INT"):
		max := int64(math.MaxInt64 >> (64 - bits))
		return strconv.FormatInt([]int64{0, -1, max, -max - 1, rng.Int64() >> (64 - bits)}[rng.IntN(5)], 10)
	}
	v := rng.NormFloat64() * math.Pow(10, float64(rng.IntN(20)-10))
	switch rng.IntN(5) {
	case 0:
		return strconv.FormatFloat(v, 'e', -1, bits)
	case 1:
		return strconv.FormatFloat(v, 'E', 3, bits)
	case 2:
		return []string{"0", "-0", "0.0", "1e-50", "-1.0e+2", "123456789012345678901234567890"}[rng.IntN(6)]
	}
	return strconv.FormatFloat(v, 'g', -1, bits)
}
