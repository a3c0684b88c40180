package policy

import (
	"bytes"
	"encoding/json"
	"reflect"
)

// Patterns shared by the JSON Schema and the decoder's checks (the decoder's checks are
// the authority; the schema helps editors).
const (
	durationPattern = `^([0-9]+d)?(([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)?$`
	sizePattern     = `^[0-9]+(\.[0-9]+)?\s*([KMGT]i?B|B)?$`
)

var patterns = map[string]string{
	"orgname":  orgName.String(),
	"dnslabel": orgName.String(),
	"tag":      tagPattern.String(),
	"digest":   digestPattern.String(),
	"envname":  envPattern.String(),
	"subject":  subjectPattern.String(),
}

// OrgSchema returns the JSON Schema (draft-07) of an org file, generated from Org.
func OrgSchema() []byte {
	s := schemaOf(reflect.TypeOf(Org{}), reflect.ValueOf(BuiltinDefaults()), true)
	return document(s, "orgs/<org>.yaml", "One organization of a Talon config repository.")
}

// RootSchema returns the JSON Schema (draft-07) of talon.yaml, generated from Root.
func RootSchema() []byte {
	s := schemaOf(reflect.TypeOf(Root{}), reflect.ValueOf(BuiltinRoot()), false)
	return document(s, "talon.yaml", "Root settings of a Talon config repository.")
}

func document(s map[string]any, title, desc string) []byte {
	s["$schema"] = "http://json-schema.org/draft-07/schema#"
	s["title"] = title
	s["description"] = desc
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		panic("policy: schema: " + err.Error())
	}
	return b.Bytes()
}

// schemaOf describes type t; def holds built-in defaults for the same type (or is invalid).
// For Org, inherited (the Policy part) takes its defaults from BuiltinDefaults.
func schemaOf(t reflect.Type, def reflect.Value, org bool) map[string]any {
	switch t {
	case durationType:
		return map[string]any{"type": "string", "pattern": durationPattern}
	case byteSizeType:
		return map[string]any{"type": []string{"integer", "string"}, "minimum": 0, "pattern": sizePattern}
	}
	switch t.Kind() {
	case reflect.Struct:
		props := map[string]any{}
		var required []string
		for _, f := range fieldsOf(t) {
			fdef := reflect.Value{}
			if def.IsValid() {
				if org && len(f.index) > 1 { // inlined Policy: defaults hold a Policy
					fdef = def.FieldByIndex(f.index[1:])
				} else if !org {
					fdef = def.FieldByIndex(f.index)
				}
			}
			ps := schemaOf(f.typ, fdef, false)
			constrain(ps, f.typ, f.tag)
			if f.doc != "" {
				ps["description"] = f.doc
			}
			if fdef.IsValid() {
				if v, ok := jsonDefault(fdef); ok {
					ps["default"] = v
				}
			}
			props[f.key] = ps
			if f.required {
				required = append(required, f.key)
			}
		}
		s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
		if len(required) > 0 {
			s["required"] = required
		}
		switch t {
		case reflect.TypeOf(ModelRef{}):
			s["oneOf"] = oneOfRequired("version", "semver", "digest")
		case reflect.TypeOf(Alert{}):
			s["oneOf"] = oneOfRequired("url", "urlFromEnv")
		}
		return s
	case reflect.Pointer:
		return schemaOf(t.Elem(), reflect.Value{}, false)
	case reflect.Slice:
		return map[string]any{"type": "array", "items": schemaOf(t.Elem(), reflect.Value{}, false)}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int64:
		return map[string]any{"type": "integer"}
	case reflect.Float64:
		return map[string]any{"type": "number"}
	}
	panic("policy: no schema for " + t.String())
}

// constrain adds a field's tag constraints, to the items when the field is a list.
func constrain(s map[string]any, t reflect.Type, tg tag) {
	target := s
	if t.Kind() == reflect.Slice {
		target = s["items"].(map[string]any)
		if tg.required {
			s["minItems"] = 1
		}
	}
	if tg.min != nil && t != durationType {
		target["minimum"] = *tg.min
	}
	if tg.max != nil {
		target["maximum"] = *tg.max
	}
	if tg.enum != nil {
		target["enum"] = tg.enum
	}
	for _, c := range tg.checks {
		if p, ok := patterns[c]; ok {
			target["pattern"] = p
		}
		if c == "nonempty" || c == "repository" || c == "semver" || c == "cron" || c == "window-cron" {
			target["minLength"] = 1
		}
	}
}

func oneOfRequired(keys ...string) []any {
	var out []any
	for _, k := range keys {
		out = append(out, map[string]any{"required": []string{k}})
	}
	return out
}

// jsonDefault is the default to show for a scalar field; structs and lists show none.
func jsonDefault(v reflect.Value) (any, bool) {
	switch {
	case v.Type() == durationType, v.Type() == byteSizeType:
		s, _ := scalarText(v)
		return s, true
	}
	switch v.Kind() {
	case reflect.String:
		return v.String(), v.String() != ""
	case reflect.Bool:
		return v.Bool(), true
	case reflect.Int, reflect.Int64:
		return v.Int(), true
	case reflect.Float64:
		return v.Float(), true
	}
	return nil, false
}
