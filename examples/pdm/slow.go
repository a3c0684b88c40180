package pdm

import (
	"fmt"
	"math"
	"math/rand/v2"

	"google.golang.org/protobuf/encoding/protowire"
)

// SlowWidth is the width of the hidden layers SlowModel adds.
const SlowWidth = 256

// slowSeed seeds the PCG that draws SlowModel's hidden weights.
const slowSeed = 0x736c_6f77_6d6f_6465 // "slowmode"

// SlowModel returns model w as ONNX bytes that compute exactly what Model(w)
// computes, only slower: besides the logistic model, the graph runs the
// standardized input through layers hidden layers (MatMul by a fixed
// SlowWidth×SlowWidth matrix, then Tanh) and adds the result, multiplied by a
// zero matrix, to the logit. ONNX Runtime cannot fold the chain away because it
// depends on the input, so every row costs about layers × 65,536 multiply-adds
// while the output stays bit-identical to Model(w). It stands for a model that is
// accurate but too slow to serve (for latency gates). layers must be at least 1.
func SlowModel(w Weights, layers int) ([]byte, error) {
	if layers < 1 {
		return nil, fmt.Errorf("pdm slow model v%d: %d hidden layers, want at least 1", w.Version, layers)
	}
	g, err := graphOf(w)
	if err != nil {
		return nil, err
	}
	g.doc = fmt.Sprintf("Talon predictive-maintenance model v%d made slow for latency tests: "+
		"the output of Model v%d plus 0 × %d hidden %d-wide MatMul+Tanh layers.", w.Version, w.Version, layers, SlowWidth)
	return g.encodeWith(g.slowGraphProto(layers)), nil
}

// slowGraphProto serializes the graph of SlowModel.
func (g graph) slowGraphProto(layers int) []byte {
	n := int64(len(g.mean))
	r := rand.New(rand.NewPCG(slowSeed, slowSeed))
	random := func(count int, scale float64) []float32 {
		out := make([]float32, count)
		for i := range out {
			out[i] = float32(float64(r.NormFloat64() * scale))
		}
		return out
	}
	nodes := [][]byte{
		node("center", "Sub", []string{InputName, "mean"}, "centered"),
		node("standardize", "Div", []string{"centered", "scale"}, "standardized"),
		node("dot", "MatMul", []string{"standardized", "w"}, "dot"),
		node("bias", "Add", []string{"dot", "b"}, "fast_logit"),
		node("slow_in", "MatMul", []string{"standardized", "slow_in"}, "hidden_0"),
	}
	prev := "hidden_0"
	for i := 1; i <= layers; i++ {
		pre, out := fmt.Sprintf("pre_%d", i), fmt.Sprintf("hidden_%d", i)
		nodes = append(nodes,
			node("slow_matmul_"+fmt.Sprint(i), "MatMul", []string{prev, "slow_w"}, pre),
			node("slow_tanh_"+fmt.Sprint(i), "Tanh", []string{pre}, out))
		prev = out
	}
	nodes = append(nodes,
		node("slow_out", "MatMul", []string{prev, "slow_zero"}, "slow_term"),
		node("slow_add", "Add", []string{"fast_logit", "slow_term"}, "logit"),
		node("sigmoid", "Sigmoid", []string{"logit"}, OutputName))
	inits := [][]byte{
		floatTensor("mean", []int64{n}, g.mean),
		floatTensor("scale", []int64{n}, g.scale),
		floatTensor("w", []int64{n, 1}, g.w),
		floatTensor("b", []int64{1}, []float32{g.b}),
		floatTensor("slow_in", []int64{n, SlowWidth}, random(int(n)*SlowWidth, 1/math.Sqrt(float64(n)))),
		floatTensor("slow_w", []int64{SlowWidth, SlowWidth}, random(SlowWidth*SlowWidth, 1/math.Sqrt(SlowWidth))),
		floatTensor("slow_zero", []int64{SlowWidth, 1}, make([]float32, SlowWidth)),
	}
	var gb []byte
	for _, nd := range nodes {
		gb = appendMessage(gb, graphNode, nd)
	}
	gb = appendString(gb, graphName, "pdm-slow")
	for _, t := range inits {
		gb = appendMessage(gb, graphInitializer, t)
	}
	gb = appendString(gb, graphDocString, "Logistic failure model plus a zero-weighted chain of hidden layers.")
	gb = appendMessage(gb, graphInput, valueInfo(InputName, n))
	return appendMessage(gb, graphOutput, valueInfo(OutputName, 1))
}

// ResidentModel returns model w as ONNX bytes of about size bytes (at least
// 4 KiB) that ONNX Runtime keeps in memory once loaded, unlike ModelWithPadding,
// whose unused initializer it drops: a table of size/4 pseudo-random float32
// values is looked up for every row at an index computed from the input (always
// 0, where the table holds 0) and added to the logit. The outputs are
// bit-identical to Model(w), and the lookup costs a few small operators per
// inference. It is for memory benchmarks of loading and swapping models.
func ResidentModel(w Weights, size int) ([]byte, error) {
	if size < 4096 {
		return nil, fmt.Errorf("pdm resident model v%d: size %d, want at least 4096", w.Version, size)
	}
	g, err := graphOf(w)
	if err != nil {
		return nil, err
	}
	g.doc = fmt.Sprintf("Talon predictive-maintenance model v%d with a %d-byte resident table that adds 0 to the logit.", w.Version, size)
	n := int64(len(g.mean))
	table := paddingData(size / 4)
	clear(table[:4]) // table[0] = 0
	toInt64 := appendVarint(appendVarint(appendString(nil, attrName, "to"), attrInt, elemTypeInt64), attrType, attrTypeInt)
	nodes := [][]byte{
		node("center", "Sub", []string{InputName, "mean"}, "centered"),
		node("standardize", "Div", []string{"centered", "scale"}, "standardized"),
		node("dot", "MatMul", []string{"standardized", "w"}, "dot"),
		node("bias", "Add", []string{"dot", "b"}, "fast_logit"),
		node("zero_index", "MatMul", []string{"standardized", "zero_column"}, "zero_f"),
		appendMessage(node("to_index", "Cast", []string{"zero_f"}, "index"), nodeAttribute, toInt64),
		node("lookup", "Gather", []string{"table", "index"}, "looked_up"),
		node("add_lookup", "Add", []string{"fast_logit", "looked_up"}, "logit"),
		node("sigmoid", "Sigmoid", []string{"logit"}, OutputName),
	}
	inits := [][]byte{
		floatTensor("mean", []int64{n}, g.mean),
		floatTensor("scale", []int64{n}, g.scale),
		floatTensor("w", []int64{n, 1}, g.w),
		floatTensor("b", []int64{1}, []float32{g.b}),
		floatTensor("zero_column", []int64{n, 1}, make([]float32, n)),
		rawFloatTensor("table", []int64{int64(len(table) / 4)}, table),
	}
	gb := make([]byte, 0, len(table)+1024)
	for _, nd := range nodes {
		gb = appendMessage(gb, graphNode, nd)
	}
	gb = appendString(gb, graphName, "pdm-resident")
	for _, t := range inits {
		gb = appendMessage(gb, graphInitializer, t)
	}
	gb = appendMessage(gb, graphInput, valueInfo(InputName, n))
	gb = appendMessage(gb, graphOutput, valueInfo(OutputName, 1))
	return g.encodeWith(gb), nil
}

// Field numbers and values for node attributes (onnx.proto3).
const (
	nodeAttribute protowire.Number = 5  // NodeProto.attribute
	attrName      protowire.Number = 1  // AttributeProto.name
	attrInt       protowire.Number = 3  // AttributeProto.i
	attrType      protowire.Number = 20 // AttributeProto.type
	attrTypeInt                    = 2  // AttributeProto.AttributeType.INT
	elemTypeInt64                  = 7  // TensorProto.DataType.INT64
)
