package inference

import (
	"fmt"
	"strings"

	ort "github.com/yalue/onnxruntime_go"
)

// Datatype names of the Open Inference Protocol v2 that Talon serves. FP16, BF16
// and BYTES (strings) are not served: JSON has no faithful form for the first two
// and onnxruntime_go cannot return string outputs through a dynamic session.
const (
	BOOL   = "BOOL"
	UINT8  = "UINT8"
	UINT16 = "UINT16"
	UINT32 = "UINT32"
	UINT64 = "UINT64"
	INT8   = "INT8"
	INT16  = "INT16"
	INT32  = "INT32"
	INT64  = "INT64"
	FP32   = "FP32"
	FP64   = "FP64"
)

// Datatypes lists the datatypes Talon serves, in the order the OIP spec lists them.
func Datatypes() []string {
	return []string{BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP32, FP64}
}

// ortDatatypes maps ONNX Runtime element types to OIP datatype names.
var ortDatatypes = map[ort.TensorElementDataType]string{
	ort.TensorElementDataTypeBool:   BOOL,
	ort.TensorElementDataTypeUint8:  UINT8,
	ort.TensorElementDataTypeUint16: UINT16,
	ort.TensorElementDataTypeUint32: UINT32,
	ort.TensorElementDataTypeUint64: UINT64,
	ort.TensorElementDataTypeInt8:   INT8,
	ort.TensorElementDataTypeInt16:  INT16,
	ort.TensorElementDataTypeInt32:  INT32,
	ort.TensorElementDataTypeInt64:  INT64,
	ort.TensorElementDataTypeFloat:  FP32,
	ort.TensorElementDataTypeDouble: FP64,
}

// oipName names an ONNX element type the way OIP does, for error messages about
// types Talon does not serve.
func oipName(t ort.TensorElementDataType) string {
	switch t {
	case ort.TensorElementDataTypeFloat16:
		return "FP16"
	case ort.TensorElementDataTypeBFloat16:
		return "BF16"
	case ort.TensorElementDataTypeString:
		return "BYTES"
	}
	if s, ok := ortDatatypes[t]; ok {
		return s
	}
	return strings.TrimPrefix(t.String(), "ONNX_TENSOR_ELEMENT_DATA_TYPE_")
}

// datatypeOf reports the OIP datatype of a Go slice that Tensor.Data may hold,
// or "" for any other value.
func datatypeOf(data any) string {
	switch data.(type) {
	case []bool:
		return BOOL
	case []uint8:
		return UINT8
	case []uint16:
		return UINT16
	case []uint32:
		return UINT32
	case []uint64:
		return UINT64
	case []int8:
		return INT8
	case []int16:
		return INT16
	case []int32:
		return INT32
	case []int64:
		return INT64
	case []float32:
		return FP32
	case []float64:
		return FP64
	}
	return ""
}

// dataLen returns the number of elements in a Go slice that Tensor.Data may hold.
func dataLen(data any) int {
	switch d := data.(type) {
	case []bool:
		return len(d)
	case []uint8:
		return len(d)
	case []uint16:
		return len(d)
	case []uint32:
		return len(d)
	case []uint64:
		return len(d)
	case []int8:
		return len(d)
	case []int16:
		return len(d)
	case []int32:
		return len(d)
	case []int64:
		return len(d)
	case []float32:
		return len(d)
	case []float64:
		return len(d)
	}
	return 0
}

// MakeData returns a zeroed Go slice of n elements for the OIP datatype dt, the
// type Tensor.Data holds for it.
func MakeData(dt string, n int) (any, error) {
	switch dt {
	case BOOL:
		return make([]bool, n), nil
	case UINT8:
		return make([]uint8, n), nil
	case UINT16:
		return make([]uint16, n), nil
	case UINT32:
		return make([]uint32, n), nil
	case UINT64:
		return make([]uint64, n), nil
	case INT8:
		return make([]int8, n), nil
	case INT16:
		return make([]int16, n), nil
	case INT32:
		return make([]int32, n), nil
	case INT64:
		return make([]int64, n), nil
	case FP32:
		return make([]float32, n), nil
	case FP64:
		return make([]float64, n), nil
	}
	return nil, fmt.Errorf("datatype %q is not served (served: %s)", dt, strings.Join(Datatypes(), ", "))
}

// newValue wraps t's data (without copying) in an ONNX Runtime value. The caller
// destroys the value.
func newValue(shape []int64, data any) (ort.Value, error) {
	switch d := data.(type) {
	case []bool:
		return wrap(shape, d)
	case []uint8:
		return wrap(shape, d)
	case []uint16:
		return wrap(shape, d)
	case []uint32:
		return wrap(shape, d)
	case []uint64:
		return wrap(shape, d)
	case []int8:
		return wrap(shape, d)
	case []int16:
		return wrap(shape, d)
	case []int32:
		return wrap(shape, d)
	case []int64:
		return wrap(shape, d)
	case []float32:
		return wrap(shape, d)
	case []float64:
		return wrap(shape, d)
	}
	return nil, fmt.Errorf("unsupported tensor data %T", data)
}

// wrap makes a tensor (or, for an empty shape, a scalar) over data.
func wrap[T ort.TensorData](shape []int64, data []T) (ort.Value, error) {
	if len(shape) == 0 {
		return ort.NewScalar(data[0])
	}
	return ort.NewTensor(ort.Shape(shape), data)
}

// valueData returns the shape and a Go-owned copy of the data of an ONNX Runtime
// output value, before the value is destroyed.
func valueData(v ort.Value) (string, []int64, any, error) {
	switch t := v.(type) {
	case *ort.Tensor[bool]:
		return BOOL, t.GetShape(), t.GetData(), nil
	case *ort.Tensor[uint8]:
		return UINT8, t.GetShape(), t.GetData(), nil
	case *ort.Tensor[uint16]:
		return UINT16, t.GetShape(), t.GetData(), nil
	case *ort.Tensor[uint32]:
		return UINT32, t.GetShape(), t.GetData(), nil
	case *ort.Tensor[uint64]:
		return UINT64, t.GetShape(), t.GetData(), nil
	case *ort.Tensor[int8]:
		return INT8, t.GetShape(), t.GetData(), nil
	case *ort.Tensor[int16]:
		return INT16, t.GetShape(), t.GetData(), nil
	case *ort.Tensor[int32]:
		return INT32, t.GetShape(), t.GetData(), nil
	case *ort.Tensor[int64]:
		return INT64, t.GetShape(), t.GetData(), nil
	case *ort.Tensor[float32]:
		return FP32, t.GetShape(), t.GetData(), nil
	case *ort.Tensor[float64]:
		return FP64, t.GetShape(), t.GetData(), nil
	}
	return "", nil, nil, fmt.Errorf("output value %T (%s) is not served", v, oipName(ort.TensorElementDataType(v.DataType())))
}
