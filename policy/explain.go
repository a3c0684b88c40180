package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Setting is one effective value and where it came from.
type Setting struct {
	// Path names the value as in the file: "retention.maxVersions", "alerts[0].url".
	Path string
	// Value is the effective value, written as YAML would read it back.
	Value string
	// Origin is the file and line that set it, or BuiltIn.
	Origin Origin
}

// Explain lists every effective setting of o in schema order, each with its origin: the
// org file, talon.yaml's defaults, or the built-in default. It is what
// `talon validate --explain` prints.
func (o *Org) Explain() []Setting { return explain(reflect.ValueOf(o).Elem(), o.Origins) }

// Explain lists every effective setting of talon.yaml, as Org.Explain does.
func (r *Root) Explain() []Setting { return explain(reflect.ValueOf(r).Elem(), r.Origins) }

// Fingerprint is a digest of o's effective desired state (not of its origins or file
// path): equal fingerprints mean nothing to do. Config.Fingerprint also covers the trust
// keys' content.
func (o *Org) Fingerprint() string {
	h := sha256.New()
	for _, s := range explain(reflect.ValueOf(o).Elem(), nil) {
		fmt.Fprintf(h, "%s=%s\n", s.Path, s.Value)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Fingerprint is o.Fingerprint combined with the content of the trust keys o names, so a
// rotated key file changes it.
func (c *Config) Fingerprint(o *Org) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n", o.Fingerprint())
	for _, k := range o.Trust.Keys {
		sum := sha256.Sum256(c.Keys[k])
		fmt.Fprintf(h, "%s=%x\n", k, sum)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func explain(v reflect.Value, origins map[string]Origin) []Setting {
	var out []Setting
	flatten(v, "", &out)
	for i := range out {
		out[i].Origin = originOf(out[i].Path, origins)
	}
	return out
}

// originOf is the origin of path or of its nearest ancestor that has one.
func originOf(p string, origins map[string]Origin) Origin {
	for q := p; q != ""; q = parentPath(q) {
		if o, ok := origins[q]; ok {
			return o
		}
	}
	return Origin{Kind: BuiltIn}
}

// flatten appends the leaves of v.
func flatten(v reflect.Value, path string, out *[]Setting) {
	if s, ok := scalarText(v); ok {
		*out = append(*out, Setting{Path: path, Value: s})
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for _, f := range fieldsOf(v.Type()) {
			flatten(v.FieldByIndex(f.index), join(path, f.key), out)
		}
	case reflect.Pointer:
		if v.IsNil() {
			*out = append(*out, Setting{Path: path, Value: "null"})
			return
		}
		flatten(v.Elem(), path, out)
	case reflect.Slice:
		if v.Len() == 0 {
			*out = append(*out, Setting{Path: path, Value: "[]"})
			return
		}
		if _, ok := scalarText(v.Index(0)); ok {
			items := make([]string, v.Len())
			for i := range items {
				items[i], _ = scalarText(v.Index(i))
			}
			*out = append(*out, Setting{Path: path, Value: "[" + strings.Join(items, ", ") + "]"})
			return
		}
		for i := 0; i < v.Len(); i++ {
			flatten(v.Index(i), fmt.Sprintf("%s[%d]", path, i), out)
		}
	}
}

// scalarText formats a scalar value as YAML would read it back.
func scalarText(v reflect.Value) (string, bool) {
	switch {
	case v.Type() == durationType:
		return FormatDuration(time.Duration(v.Int())), true
	case v.Type() == byteSizeType:
		if v.Int() == 0 {
			return "0", true
		}
		return ByteSize(v.Int()).String(), true
	}
	switch v.Kind() {
	case reflect.String:
		s := v.String()
		if s == "" || strings.ContainsAny(s, ":#{}[],&*!|>'\"%@`") || strings.TrimSpace(s) != s {
			return strconv.Quote(s), true
		}
		return s, true
	case reflect.Bool:
		return strconv.FormatBool(v.Bool()), true
	case reflect.Int, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10), true
	case reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64), true
	}
	return "", false
}
