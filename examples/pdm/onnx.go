package pdm

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// The ONNX format this package writes: IR version 8 with the default operator set at
// version 13.
const (
	IRVersion    = 8
	OpsetVersion = 13
)

// Field numbers from onnx.proto3 (github.com/onnx/onnx, onnx/onnx.proto3).
const (
	modelIRVersion     protowire.Number = 1
	modelProducerName  protowire.Number = 2
	modelProducerVer   protowire.Number = 3
	modelModelVersion  protowire.Number = 5
	modelDocString     protowire.Number = 6
	modelGraph         protowire.Number = 7
	modelOpsetImport   protowire.Number = 8
	modelMetadataProps protowire.Number = 14

	opsetVersion protowire.Number = 2 // OperatorSetIdProto.version; domain (1) is "" here

	entryKey   protowire.Number = 1 // StringStringEntryProto
	entryValue protowire.Number = 2

	graphNode        protowire.Number = 1
	graphName        protowire.Number = 2
	graphInitializer protowire.Number = 5
	graphDocString   protowire.Number = 10
	graphInput       protowire.Number = 11
	graphOutput      protowire.Number = 12

	nodeInput  protowire.Number = 1
	nodeOutput protowire.Number = 2
	nodeName   protowire.Number = 3
	nodeOpType protowire.Number = 4

	tensorDims     protowire.Number = 1
	tensorDataType protowire.Number = 2
	tensorName     protowire.Number = 8
	tensorRawData  protowire.Number = 9

	valueInfoName protowire.Number = 1
	valueInfoType protowire.Number = 2

	typeTensorType  protowire.Number = 1 // TypeProto.tensor_type
	tensorTypeElem  protowire.Number = 1 // TypeProto.Tensor.elem_type
	tensorTypeShape protowire.Number = 2 // TypeProto.Tensor.shape
	shapeDim        protowire.Number = 1 // TensorShapeProto.dim
	dimValue        protowire.Number = 1 // TensorShapeProto.Dimension.dim_value
	dimParam        protowire.Number = 2 // TensorShapeProto.Dimension.dim_param
	elemTypeFloat32                  = 1 // TensorProto.DataType.FLOAT
)

// BatchDim is the dim_param naming the dynamic batch dimension of input and output.
const BatchDim = "batch"

// paddingName is the initializer ModelWithPadding adds; no node reads it.
const paddingName = "padding"

// graph is everything that varies between the models this package writes.
type graph struct {
	version        int64
	doc            string
	mean, scale, w []float32
	b              float32
	padding        []byte // raw float32 data of an initializer no node reads, if any
}

// Model returns model w as ONNX bytes: sigmoid(((sensors - Mean) / Scale) · W + B),
// producer "talon-pdm", model_version w.Version, and a doc string stating the formula.
// It fails if a weight is not finite or a scale is zero.
func Model(w Weights) ([]byte, error) {
	g, err := graphOf(w)
	if err != nil {
		return nil, err
	}
	return g.encode(), nil
}

// ModelWithPadding returns model w as ONNX bytes of at most size bytes and within a
// few bytes of it: Model(w) plus an initializer of pseudo-random float32 values that no node
// reads, so ONNX Runtime loads it and computes exactly what Model(w) computes. It is
// for benchmarks that move large artifacts. size must be at least len(Model(w)) + 64.
func ModelWithPadding(w Weights, size int) ([]byte, error) {
	g, err := graphOf(w)
	if err != nil {
		return nil, err
	}
	base := len(g.encode())
	if size < base+64 {
		return nil, fmt.Errorf("pdm model v%d with padding: size %d is below the minimum %d", w.Version, size, base+64)
	}
	// The padding tensor costs its raw bytes plus a few bytes of tags and lengths.
	n := (size - base) / 4
	for g.paddedLen(n) > size {
		n--
	}
	g.padding = paddingData(n)
	return g.encode(), nil
}

// WrongShapeModel returns a model that loads and runs but whose input is [batch, 5]:
// V1 without the run_hours feature. It stands for an artifact whose I/O schema does
// not match what serving expects.
func WrongShapeModel() ([]byte, error) {
	w := V1()
	g, err := graphOf(w)
	if err != nil {
		return nil, err
	}
	n := NumFeatures - 1
	g.mean, g.scale, g.w = g.mean[:n], g.scale[:n], g.w[:n]
	g.doc = "Talon predictive-maintenance test model with the wrong input shape [batch, 5] (no run_hours)."
	return g.encode(), nil
}

// NotONNX returns bytes that are not an ONNX model (a line of text); loading them must fail.
func NotONNX() []byte {
	return []byte("This is not an ONNX model. Talon's tests use it to check that a broken artifact is rejected.\n")
}

// graphOf checks w and turns it into a graph description.
func graphOf(w Weights) (graph, error) {
	var bad []string
	check := func(name string, v float32) {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			bad = append(bad, fmt.Sprintf("%s=%v", name, v))
		}
	}
	for i, f := range Features {
		check("Mean["+f+"]", w.Mean[i])
		check("Scale["+f+"]", w.Scale[i])
		check("W["+f+"]", w.W[i])
		if w.Scale[i] == 0 {
			bad = append(bad, "Scale["+f+"]=0")
		}
	}
	check("B", w.B)
	if bad != nil {
		return graph{}, fmt.Errorf("pdm model v%d: invalid weights %s: want finite values and non-zero scales", w.Version, strings.Join(bad, ", "))
	}
	return graph{
		version: w.Version,
		doc: fmt.Sprintf("Talon predictive-maintenance model v%d: failure_probability = "+
			"sigmoid(((sensors - mean) / scale) · w + b) over %s.", w.Version, strings.Join(Features, ", ")),
		mean: w.Mean[:], scale: w.Scale[:], w: w.W[:], b: w.B,
	}, nil
}

// encode serializes g as an ONNX ModelProto. Fields are written in field-number order,
// so the same graph always gives the same bytes.
func (g graph) encode() []byte { return g.encodeWith(g.graphProto()) }

// encodeWith serializes a ModelProto around the graph gb: encode uses g's own graph,
// SlowModel a longer one.
func (g graph) encodeWith(gb []byte) []byte {
	n := len(g.mean)
	mb := make([]byte, 0, len(gb)+1024)
	mb = appendVarint(mb, modelIRVersion, IRVersion)
	mb = appendString(mb, modelProducerName, ProducerName)
	mb = appendString(mb, modelProducerVer, "1")
	mb = appendVarint(mb, modelModelVersion, uint64(g.version))
	mb = appendString(mb, modelDocString, g.doc)
	mb = appendMessage(mb, modelGraph, gb)
	mb = appendMessage(mb, modelOpsetImport, appendVarint(nil, opsetVersion, OpsetVersion))
	for _, kv := range [][2]string{{"features", strings.Join(Features[:n], ",")}, {"threshold", "0.5"}} {
		entry := appendString(appendString(nil, entryKey, kv[0]), entryValue, kv[1])
		mb = appendMessage(mb, modelMetadataProps, entry)
	}
	return mb
}

// graphProto serializes g's GraphProto.
func (g graph) graphProto() []byte {
	n := int64(len(g.mean))
	nodes := [][]byte{
		node("center", "Sub", []string{InputName, "mean"}, "centered"),
		node("standardize", "Div", []string{"centered", "scale"}, "standardized"),
		node("dot", "MatMul", []string{"standardized", "w"}, "dot"),
		node("bias", "Add", []string{"dot", "b"}, "logit"),
		node("sigmoid", "Sigmoid", []string{"logit"}, OutputName),
	}
	inits := [][]byte{
		floatTensor("mean", []int64{n}, g.mean),
		floatTensor("scale", []int64{n}, g.scale),
		floatTensor("w", []int64{n, 1}, g.w),
		floatTensor("b", []int64{1}, []float32{g.b}),
	}
	if len(g.padding) > 0 {
		inits = append(inits, rawFloatTensor(paddingName, []int64{int64(len(g.padding) / 4)}, g.padding))
	}

	gb := make([]byte, 0, len(g.padding)+1024) // one allocation even for padded models
	for _, nd := range nodes {
		gb = appendMessage(gb, graphNode, nd)
	}
	gb = appendString(gb, graphName, "pdm")
	for _, t := range inits {
		gb = appendMessage(gb, graphInitializer, t)
	}
	gb = appendString(gb, graphDocString, "Logistic failure model over standardized sensor readings.")
	gb = appendMessage(gb, graphInput, valueInfo(InputName, n))
	return appendMessage(gb, graphOutput, valueInfo(OutputName, 1))
}

// paddedLen is the length of g.encode() once g has a padding initializer of n floats,
// computed without building it: the padding adds one initializer field to the graph,
// and the graph's length prefix in the model may grow.
func (g graph) paddedLen(n int) int {
	graphLen := len(g.graphProto())
	tensorLen := len(rawFloatTensor(paddingName, []int64{int64(n)}, nil)) - protowire.SizeBytes(0) +
		protowire.SizeBytes(4*n)
	paddedGraphLen := graphLen + protowire.SizeTag(graphInitializer) + protowire.SizeBytes(tensorLen)
	return len(g.encode()) - protowire.SizeBytes(graphLen) + protowire.SizeBytes(paddedGraphLen)
}

// node encodes a NodeProto of the default domain.
func node(name, op string, inputs []string, output string) []byte {
	var b []byte
	for _, in := range inputs {
		b = appendString(b, nodeInput, in)
	}
	b = appendString(b, nodeOutput, output)
	b = appendString(b, nodeName, name)
	return appendString(b, nodeOpType, op)
}

// floatTensor encodes a float32 TensorProto with its values as little-endian raw_data.
func floatTensor(name string, dims []int64, values []float32) []byte {
	raw := make([]byte, 4*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return rawFloatTensor(name, dims, raw)
}

func rawFloatTensor(name string, dims []int64, raw []byte) []byte {
	var packed []byte
	for _, d := range dims {
		packed = protowire.AppendVarint(packed, uint64(d))
	}
	b := make([]byte, 0, len(raw)+len(name)+32)
	b = appendMessage(b, tensorDims, packed) // packed repeated int64
	b = appendVarint(b, tensorDataType, elemTypeFloat32)
	b = appendString(b, tensorName, name)
	return appendMessage(b, tensorRawData, raw)
}

// paddingData is n deterministic pseudo-random float32 values in [-1, 1] as
// little-endian bytes: they do not compress, so moving a padded model moves its size.
func paddingData(n int) []byte {
	r := rand.New(rand.NewPCG(paddingSeed, paddingSeed))
	raw := make([]byte, 4*n)
	for i := 0; i < n; i++ {
		v := float32(int32(r.Uint32())) / (1 << 31)
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return raw
}

// paddingSeed seeds the padding's PCG.
const paddingSeed = 0x7061_6464_696e_6721 // "padding!"

// valueInfo encodes a ValueInfoProto for a float32 tensor of shape [batch, cols].
func valueInfo(name string, cols int64) []byte {
	batch := appendString(nil, dimParam, BatchDim)
	width := appendVarint(nil, dimValue, uint64(cols))
	shape := appendMessage(appendMessage(nil, shapeDim, batch), shapeDim, width)
	tensor := appendMessage(appendVarint(nil, tensorTypeElem, elemTypeFloat32), tensorTypeShape, shape)
	typ := appendMessage(nil, typeTensorType, tensor)
	return appendMessage(appendString(nil, valueInfoName, name), valueInfoType, typ)
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	return protowire.AppendVarint(protowire.AppendTag(b, num, protowire.VarintType), v)
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	return protowire.AppendString(protowire.AppendTag(b, num, protowire.BytesType), s)
}

func appendMessage(b []byte, num protowire.Number, msg []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), msg)
}
