package oip

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"sync"
	"unicode/utf8"

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

// responsePool holds the buffers infer responses are built in.
var responsePool = sync.Pool{New: func() any { b := make([]byte, 0, 1<<10); return &b }}

// appendInferResponse appends the OIP infer response, built by hand: the JSON
// json.Marshal would write for the same fields, and output data as appendData
// writes it (json.Marshal would reflect over every element and reject NaN).
// The provenance headers are set by the caller.
func appendInferResponse(b []byte, org, id string, p provenance, outs []inference.Tensor) []byte {
	b = append(b, `{"model_name":`...)
	b = appendString(b, org)
	b = append(b, `,"model_version":`...)
	b = appendString(b, p.Version)
	b = append(b, `,"id":`...)
	b = appendString(b, id)
	b = append(b, `,"parameters":{"talon_org":`...)
	b = appendString(b, p.Org)
	b = append(b, `,"talon_model_version":`...)
	b = appendString(b, p.Version)
	b = append(b, `,"talon_model_digest":`...)
	b = appendString(b, p.Digest)
	b = append(b, `,"talon_config_commit":`...)
	b = appendString(b, p.ConfigCommit)
	b = append(b, `},"outputs":[`...)
	for i, t := range outs {
		b = comma(b, i)
		b = append(b, `{"name":`...)
		b = appendString(b, t.Name)
		b = append(b, `,"datatype":`...)
		b = appendString(b, t.Datatype)
		b = append(b, `,"shape":`...)
		if t.Shape == nil {
			b = append(b, "null"...)
		} else {
			b = appendInts(append(b, '['), t.Shape)
			b = append(b, ']')
		}
		b = append(b, `,"data":`...)
		b = appendData(b, t.Data)
		b = append(b, '}')
	}
	return append(b, "]}\n"...)
}

// appendString appends s as json.Marshal writes it: as is if it is printable
// ASCII that needs no escape (HTML's <, > and & included), else as marshalled.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if !plainJSON[s[i]] {
			j, _ := json.Marshal(s) // a string always marshals
			return append(b, j...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// plainJSON marks the bytes json.Marshal writes as they are in a string.
var plainJSON = func() (t [256]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

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
	v := make([]string, 2) // one allocation for both header values
	v[0], v[1] = "application/json", strconv.Itoa(len(b))
	h := w.Header()
	h["Content-Type"], h["Content-Length"] = v[0:1:1], v[1:2:2]
	w.WriteHeader(status)
	w.Write(b)
}

// newID returns a random request id (a UUID version 4) made of crypto/rand
// bytes.
func newID() string {
	var u [16]byte
	e := entropyPool.Get().(*entropy)
	if e.off == len(e.b) {
		rand.Read(e.b[:])
		e.off = 0
	}
	e.off += copy(u[:], e.b[e.off:])
	entropyPool.Put(e)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	hex.Encode(s[9:13], u[4:6])
	hex.Encode(s[14:18], u[6:8])
	hex.Encode(s[19:23], u[8:10])
	hex.Encode(s[24:], u[10:])
	s[8], s[13], s[18], s[23] = '-', '-', '-', '-'
	return string(s[:])
}

// entropy holds crypto/rand bytes read 4 KiB at a time, one read for 256
// ids instead of one each. A buffer is held by one goroutine at a time (the
// pool hands it out and takes it back) and each byte is used once.
type entropy struct {
	b   [4096]byte
	off int
}

var entropyPool = sync.Pool{New: func() any { return &entropy{off: 4096} }}
