package oip

import (
	"math"
	"strconv"
)

// appendData appends Go tensor data as a flat JSON array. Non-finite floats,
// which JSON cannot hold, are written as the strings "NaN", "Infinity" and
// "-Infinity" (the protobuf JSON mapping's spelling).
func appendData(b []byte, data any) []byte {
	b = append(b, '[')
	switch d := data.(type) {
	case []bool:
		for i, v := range d {
			b = comma(b, i)
			b = strconv.AppendBool(b, v)
		}
	case []uint8:
		b = appendUints(b, d)
	case []uint16:
		b = appendUints(b, d)
	case []uint32:
		b = appendUints(b, d)
	case []uint64:
		b = appendUints(b, d)
	case []int8:
		b = appendInts(b, d)
	case []int16:
		b = appendInts(b, d)
	case []int32:
		b = appendInts(b, d)
	case []int64:
		b = appendInts(b, d)
	case []float32:
		for i, v := range d {
			b = appendFloat(comma(b, i), float64(v), 32)
		}
	case []float64:
		for i, v := range d {
			b = appendFloat(comma(b, i), v, 64)
		}
	}
	return append(b, ']')
}

func comma(b []byte, i int) []byte {
	if i > 0 {
		return append(b, ',')
	}
	return b
}

func appendInts[T signed](b []byte, d []T) []byte {
	for i, v := range d {
		b = strconv.AppendInt(comma(b, i), int64(v), 10)
	}
	return b
}

func appendUints[T unsigned](b []byte, d []T) []byte {
	for i, v := range d {
		b = strconv.AppendUint(comma(b, i), uint64(v), 10)
	}
	return b
}

func appendFloat(b []byte, v float64, bits int) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, `"NaN"`...)
	case math.IsInf(v, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(v, -1):
		return append(b, `"-Infinity"`...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, bits)
}
