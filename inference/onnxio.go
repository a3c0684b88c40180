package inference

import (
	"slices"

	ort "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/encoding/protowire"
)

// A model's inputs and outputs, as ONNX Runtime reports them for a session, are
// not all written in the model file. ONNX Runtime runs type and shape inference
// when it loads a graph and reports each output's inferred shape merged into the
// declared one: an output declared [batch, n] after an input of fixed shape
// [2, 3] is reported [2, 3], and a declared shape that contradicts inference is
// loosened (a wrong dimension becomes -1, a wrong rank no shape at all). So the
// inputs and outputs still come from a throwaway session, but on a skeleton of
// the model, in which every large initializer is replaced by a graph input of
// the same name, element type and shape. Shape inference reads the values of
// small constants only (shapes, axes, scales, counts), so the skeleton's session
// reports the same outputs, and the same inputs once the stand-ins are dropped,
// at a cost that does not grow with the weights. The model is walked in its wire
// format, skipping over what it does not need, and is never decoded as a whole.

// skeletonMinTensor is the encoded size from which an initializer is replaced in
// the skeleton: 4 KiB holds 512 int64 values, far more than any shape, axes or
// scales input that shape inference reads.
const skeletonMinTensor = 4 << 10

// Field numbers from onnx.proto (github.com/onnx/onnx, onnx/onnx.proto).
const (
	modelIRVersion protowire.Number = 1 // ModelProto.ir_version
	modelGraph     protowire.Number = 7 // ModelProto.graph

	graphNode              protowire.Number = 1  // GraphProto.node
	graphInitializer       protowire.Number = 5  // GraphProto.initializer
	graphInput             protowire.Number = 11 // GraphProto.input
	graphOutput            protowire.Number = 12 // GraphProto.output
	graphSparseInitializer protowire.Number = 15 // GraphProto.sparse_initializer

	nodeOutput protowire.Number = 2 // NodeProto.output

	valueInfoName protowire.Number = 1 // ValueInfoProto.name
	valueInfoType protowire.Number = 2 // ValueInfoProto.type

	typeTensorType  protowire.Number = 1 // TypeProto.tensor_type
	tensorTypeElem  protowire.Number = 1 // TypeProto.Tensor.elem_type
	tensorTypeShape protowire.Number = 2 // TypeProto.Tensor.shape
	shapeDim        protowire.Number = 1 // TensorShapeProto.dim
	dimValue        protowire.Number = 1 // TensorShapeProto.Dimension.dim_value

	tensorDims         protowire.Number = 1  // TensorProto.dims
	tensorDataType     protowire.Number = 2  // TensorProto.data_type
	tensorSegment      protowire.Number = 3  // TensorProto.segment
	tensorName         protowire.Number = 8  // TensorProto.name
	tensorExternalData protowire.Number = 13 // TensorProto.external_data
	tensorDataLocation protowire.Number = 14 // TensorProto.data_location
)

// modelIO returns the inputs and outputs ONNX Runtime reports for a session of
// the model onnx: from a session of its skeleton when skeletonIO can answer,
// otherwise from a session of the whole model.
func modelIO(onnx []byte) ([]ort.InputOutputInfo, []ort.InputOutputInfo, error) {
	if ins, outs, ok := skeletonIO(onnx); ok {
		return ins, outs, nil
	}
	return ort.GetInputOutputInfoWithONNXData(onnx)
}

// skeletonIO returns the inputs and outputs ONNX Runtime reports for a session of
// the model onnx, read from a session of its skeleton. It reports false when the
// model has no initializer worth replacing, when it is not plain enough to be
// sure the skeleton means the same (see skeleton), or when ONNX Runtime rejects
// the skeleton (an operator that needs a constant weight, say).
func skeletonIO(onnx []byte) ([]ort.InputOutputInfo, []ort.InputOutputInfo, bool) {
	sk, replaced := skeleton(onnx)
	if sk == nil {
		return nil, nil, false
	}
	ins, outs, err := ort.GetInputOutputInfoWithONNXData(sk)
	if err != nil {
		return nil, nil, false
	}
	ins = slices.DeleteFunc(ins, func(in ort.InputOutputInfo) bool { return replaced[in.Name] })
	return ins, outs, true
}

// skeleton returns the model onnx with every large initializer replaced by a
// graph input of the same name and type, and the names it replaced; nil if it
// replaced none. An initializer is replaced only if it is plain (one name, a
// classic element type, non-negative dimensions, data in the model), unique,
// and neither a graph output nor a node's output; one that is also a graph input
// keeps that input. It returns nil, so that the whole model is used, when the
// model is not well-formed protobuf, has other than one graph, an IR version
// below 4 (where an initializer overrides its graph input's type), sparse
// initializers, or initializers with external data.
func skeleton(onnx []byte) ([]byte, map[string]bool) {
	var ir uint64
	graphs := 0
	var before, graph, after []byte
	ok := eachField(onnx, func(f pbField) bool {
		switch f.num {
		case modelIRVersion:
			ir = f.u
			return f.typ == protowire.VarintType
		case modelGraph:
			graphs++
			before, graph = onnx[:f.at], f.val
			after = onnx[f.at+len(f.raw):]
			return f.typ == protowire.BytesType
		}
		return true
	})
	if !ok || graphs != 1 || int64(ir) < 4 {
		return nil, nil
	}
	g, replaced := skeletonGraph(graph)
	if g == nil {
		return nil, nil
	}
	out := make([]byte, 0, len(before)+len(g)+len(after)+16)
	out = append(out, before...)
	out = protowire.AppendBytes(protowire.AppendTag(out, modelGraph, protowire.BytesType), g)
	return append(out, after...), replaced
}

// graphNames is what skeletonGraph learns about a graph before rewriting it.
type graphNames struct {
	inputs   map[string]bool // graph input names
	reserved map[string]bool // graph output and node output names
	inits    map[string]int  // initializer name → times seen
}

// skeletonGraph rewrites the GraphProto g as skeleton describes; nil if it
// replaced nothing or g is not plain enough.
func skeletonGraph(g []byte) ([]byte, map[string]bool) {
	names, ok := scanGraph(g)
	if !ok {
		return nil, nil
	}
	replaced := map[string]bool{}
	var stand []byte // the ValueInfoProtos of the stand-in inputs
	out := make([]byte, 0, 1024)
	ok = eachField(g, func(f pbField) bool {
		if f.num == graphInitializer {
			if t, ok := parseTensor(f.val); ok && len(f.raw) >= skeletonMinTensor &&
				names.inits[t.name] == 1 && !names.reserved[t.name] {
				replaced[t.name] = true
				if !names.inputs[t.name] {
					stand = protowire.AppendTag(stand, graphInput, protowire.BytesType)
					stand = protowire.AppendBytes(stand, t.valueInfo())
				}
				return true
			}
		}
		out = append(out, f.raw...)
		return true
	})
	if !ok || len(replaced) == 0 {
		return nil, nil
	}
	return append(out, stand...), replaced
}

// scanGraph collects the names skeletonGraph needs from the GraphProto g. It
// reports false if g is not plain enough: malformed, with sparse initializers or
// external data, or with a graph input or output whose name is not one plain
// string.
func scanGraph(g []byte) (graphNames, bool) {
	n := graphNames{inputs: map[string]bool{}, reserved: map[string]bool{}, inits: map[string]int{}}
	ok := eachField(g, func(f pbField) bool {
		if f.typ != protowire.BytesType {
			return f.num != graphNode && f.num != graphInitializer && f.num != graphInput &&
				f.num != graphOutput && f.num != graphSparseInitializer
		}
		switch f.num {
		case graphNode:
			return eachField(f.val, func(nf pbField) bool {
				if nf.num == nodeOutput {
					n.reserved[string(nf.val)] = true
					return nf.typ == protowire.BytesType
				}
				return true
			})
		case graphInitializer:
			return n.scanInitializer(f.val)
		case graphInput, graphOutput:
			name, ok := onlyString(f.val, valueInfoName)
			if f.num == graphInput {
				n.inputs[name] = true
			} else {
				n.reserved[name] = true
			}
			return ok
		case graphSparseInitializer:
			return false
		}
		return true
	})
	return n, ok
}

// scanInitializer counts every name the TensorProto b carries (so that a name
// given twice is never replaced); it reports false if b keeps its data outside
// the model (external_data entries or a non-default data_location).
func (n graphNames) scanInitializer(b []byte) bool {
	return eachField(b, func(f pbField) bool {
		switch f.num {
		case tensorName:
			n.inits[string(f.val)]++
		case tensorExternalData:
			return false
		case tensorDataLocation:
			return f.typ == protowire.VarintType && f.u == 0
		}
		return true
	})
}

// initTensor is what the skeleton needs of a TensorProto.
type initTensor struct {
	name     string
	dataType uint64
	dims     []int64
}

// valueInfo encodes the ValueInfoProto of a graph input standing in for t.
func (t initTensor) valueInfo() []byte {
	var shape []byte
	for _, d := range t.dims {
		dim := protowire.AppendVarint(protowire.AppendTag(nil, dimValue, protowire.VarintType), uint64(d))
		shape = protowire.AppendBytes(protowire.AppendTag(shape, shapeDim, protowire.BytesType), dim)
	}
	tt := protowire.AppendVarint(protowire.AppendTag(nil, tensorTypeElem, protowire.VarintType), t.dataType)
	tt = protowire.AppendBytes(protowire.AppendTag(tt, tensorTypeShape, protowire.BytesType), shape)
	typ := protowire.AppendBytes(protowire.AppendTag(nil, typeTensorType, protowire.BytesType), tt)
	vi := protowire.AppendString(protowire.AppendTag(nil, valueInfoName, protowire.BytesType), t.name)
	return protowire.AppendBytes(protowire.AppendTag(vi, valueInfoType, protowire.BytesType), typ)
}

// parseTensor reads the name, data type and dimensions of the TensorProto b. It
// reports false unless they are plain: one non-empty name, one data type of the
// classic ones (FLOAT to UINT64, and BFLOAT16; not the complex types nor the
// newer 8-, 4- and 2-bit ones), dimensions that are not negative, and no segment.
func parseTensor(b []byte) (initTensor, bool) {
	var t initTensor
	names, types := 0, 0
	ok := eachField(b, func(f pbField) bool {
		switch f.num {
		case tensorName:
			names++
			t.name = string(f.val)
			return f.typ == protowire.BytesType
		case tensorDataType:
			types++
			t.dataType = f.u
			return f.typ == protowire.VarintType
		case tensorDims:
			return t.appendDims(f)
		case tensorSegment:
			return false
		}
		return true
	})
	plainType := (t.dataType >= 1 && t.dataType <= 13) || t.dataType == 16
	return t, ok && names == 1 && t.name != "" && types == 1 && plainType
}

// appendDims appends the dims field f, packed or not, to t.dims; false if one is
// negative or the field is malformed.
func (t *initTensor) appendDims(f pbField) bool {
	switch f.typ {
	case protowire.VarintType:
		t.dims = append(t.dims, int64(f.u))
		return int64(f.u) >= 0
	case protowire.BytesType:
		for b := f.val; len(b) > 0; {
			v, n := protowire.ConsumeVarint(b)
			if n < 0 || int64(v) < 0 {
				return false
			}
			t.dims = append(t.dims, int64(v))
			b = b[n:]
		}
		return true
	}
	return false
}

// onlyString returns the value of field num of the message b, which must occur
// exactly once, as a string.
func onlyString(b []byte, num protowire.Number) (string, bool) {
	var s string
	seen := 0
	ok := eachField(b, func(f pbField) bool {
		if f.num == num {
			seen++
			s = string(f.val)
			return f.typ == protowire.BytesType
		}
		return true
	})
	return s, ok && seen == 1
}

// pbField is one field of a protobuf message.
type pbField struct {
	num protowire.Number
	typ protowire.Type
	at  int    // offset of the field in the message
	raw []byte // the whole field, tag included
	val []byte // the contents of a length-delimited field
	u   uint64 // the value of a varint field
}

// eachField calls fn with each field of the protobuf message msg in order, until
// fn returns false. It reports false if fn did, or if msg is malformed: a bad
// tag, a field number protobuf rejects, a truncated value, or a group (ONNX uses
// none).
func eachField(msg []byte, fn func(pbField) bool) bool {
	for at := 0; at < len(msg); {
		num, typ, n := protowire.ConsumeTag(msg[at:])
		if n < 0 || num > protowire.MaxValidNumber || typ == protowire.StartGroupType {
			return false
		}
		m := protowire.ConsumeFieldValue(num, typ, msg[at+n:])
		if m < 0 {
			return false
		}
		f := pbField{num: num, typ: typ, at: at, raw: msg[at : at+n+m]}
		switch typ {
		case protowire.BytesType:
			f.val, _ = protowire.ConsumeBytes(msg[at+n:])
		case protowire.VarintType:
			f.u, _ = protowire.ConsumeVarint(msg[at+n:])
		}
		if !fn(f) {
			return false
		}
		at += n + m
	}
	return true
}
