package oip

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"math"
	"net/http"
	"strconv"

	"github.com/eaglenotifier/talon/inference"
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

// writeInferResponse writes the OIP infer response. Output data is encoded by
// appendData (json.Marshal would reflect over every element and reject NaN).
func writeInferResponse(w http.ResponseWriter, org, id string, p provenance, outs []inference.Tensor) {
	b := make([]byte, 0, 256)
	b = append(b, `{"model_name":`...)
	b = appendJSON(b, org)
	b = append(b, `,"model_version":`...)
	b = appendJSON(b, p.Version)
	b = append(b, `,"id":`...)
	b = appendJSON(b, id)
	b = append(b, `,"parameters":`...)
	b = appendJSON(b, p)
	b = append(b, `,"outputs":[`...)
	for i, t := range outs {
		b = comma(b, i)
		b = append(b, `{"name":`...)
		b = appendJSON(b, t.Name)
		b = append(b, `,"datatype":`...)
		b = appendJSON(b, t.Datatype)
		b = append(b, `,"shape":`...)
		b = appendJSON(b, t.Shape)
		b = append(b, `,"data":`...)
		b = appendData(b, t.Data)
		b = append(b, '}')
	}
	b = append(b, "]}\n"...)
	writeBody(w, http.StatusOK, b)
}

// appendJSON appends v marshalled; v is always a string, []int64 or provenance,
// which cannot fail to marshal.
func appendJSON(b []byte, v any) []byte {
	j, _ := json.Marshal(v)
	return append(b, j...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encode response"}`)
	}
	writeBody(w, status, append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeBody(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

// newID returns a random request id (a UUID version 4).
func newID() string {
	var u [16]byte
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
