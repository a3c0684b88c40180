package inference

import (
	"google.golang.org/protobuf/encoding/protowire"
)

// Hand-built ONNX models for the onnxio tests, encoded field by field like
// examples/pdm does (field numbers from onnx.proto).

// onnxFloat is TensorProto.DataType FLOAT.
const onnxFloat = 1

// testGraph is a model of one graph in the default operator set 13.
type testGraph struct {
	ir              uint64 // ModelProto.ir_version; 0 means 8
	nodes           [][]byte
	inits           [][]byte
	inputs, outputs [][]byte
	extra           []byte // appended to the GraphProto as it is
}

func (g testGraph) model() []byte {
	var gb []byte
	for _, n := range g.nodes {
		gb = pbMessage(gb, graphNode, n)
	}
	gb = pbString(gb, 2, "test") // GraphProto.name
	for _, t := range g.inits {
		gb = pbMessage(gb, graphInitializer, t)
	}
	for _, v := range g.inputs {
		gb = pbMessage(gb, graphInput, v)
	}
	for _, v := range g.outputs {
		gb = pbMessage(gb, graphOutput, v)
	}
	gb = append(gb, g.extra...)
	ir := g.ir
	if ir == 0 {
		ir = 8
	}
	opset := uint64(13)
	if ir < 4 {
		opset = 8
	}
	mb := pbVarint(nil, modelIRVersion, ir)
	mb = pbMessage(mb, modelGraph, gb)
	return pbMessage(mb, 8, pbVarint(nil, 2, opset)) // opset_import {version}
}

// onnxNode encodes a NodeProto of the default domain.
func onnxNode(op, output string, inputs ...string) []byte {
	var b []byte
	for _, in := range inputs {
		b = pbString(b, 1, in)
	}
	b = pbString(b, nodeOutput, output)
	return pbString(b, 4, op) // op_type
}

// tensorInput encodes a ValueInfoProto of a tensor of element type elem. A dim
// is an int (dim_value), a string (dim_param) or nil (a dimension with neither).
func tensorInput(name string, elem uint64, dims ...any) []byte {
	var shape []byte
	for _, d := range dims {
		var dim []byte
		switch d := d.(type) {
		case int:
			dim = pbVarint(nil, dimValue, uint64(d))
		case string:
			dim = pbString(nil, 2, d) // dim_param
		}
		shape = pbMessage(shape, shapeDim, dim)
	}
	tt := pbMessage(pbVarint(nil, tensorTypeElem, elem), tensorTypeShape, shape)
	return onnxValueInfo(name, pbMessage(nil, typeTensorType, tt))
}

// unshapedInput encodes a ValueInfoProto of a tensor whose type has no shape.
func unshapedInput(name string, elem uint64) []byte {
	return onnxValueInfo(name, pbMessage(nil, typeTensorType, pbVarint(nil, tensorTypeElem, elem)))
}

// sequenceInput encodes a ValueInfoProto of a sequence of float tensors.
func sequenceInput(name string) []byte {
	elem := pbMessage(nil, typeTensorType, pbVarint(nil, tensorTypeElem, onnxFloat))
	return onnxValueInfo(name, pbMessage(nil, 4, pbMessage(nil, 1, elem))) // sequence_type {elem_type}
}

func onnxValueInfo(name string, typ []byte) []byte {
	b := pbString(nil, valueInfoName, name)
	if typ != nil {
		b = pbMessage(b, valueInfoType, typ)
	}
	return b
}

// floatInit encodes a float TensorProto of zeros with raw_data; extra is
// appended to it as it is.
func floatInit(name string, dims []int64, extra ...byte) []byte {
	var packed []byte
	n := 1
	for _, d := range dims {
		packed = protowire.AppendVarint(packed, uint64(d))
		n *= int(d)
	}
	b := pbMessage(nil, tensorDims, packed)
	b = pbVarint(b, tensorDataType, onnxFloat)
	b = pbString(b, tensorName, name)
	b = pbMessage(b, 9, make([]byte, 4*n)) // raw_data
	return append(b, extra...)
}

// sparseInit encodes a SparseTensorProto of dense shape [4] holding one zero.
func sparseInit(name string) []byte {
	indices := pbMessage(nil, tensorDims, []byte{1})
	indices = pbVarint(indices, tensorDataType, 7) // INT64
	indices = pbMessage(indices, 7, []byte{0})     // int64_data
	b := pbMessage(nil, 1, floatInit(name, []int64{1}))
	b = pbMessage(b, 2, indices)
	return pbMessage(b, 3, []byte{4}) // dims
}

func pbVarint(b []byte, num protowire.Number, v uint64) []byte {
	return protowire.AppendVarint(protowire.AppendTag(b, num, protowire.VarintType), v)
}

func pbString(b []byte, num protowire.Number, s string) []byte {
	return protowire.AppendString(protowire.AppendTag(b, num, protowire.BytesType), s)
}

func pbMessage(b []byte, num protowire.Number, msg []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), msg)
}
