package policy

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
)

// tag is the parsed `yaml`, `talon` and `doc` tags of a field.
type tag struct {
	key      string
	inline   bool
	required bool
	min, max *float64
	enum     []string
	checks   []string
	doc      string
}

type field struct {
	tag
	index []int
	typ   reflect.Type
}

var (
	fieldCache   sync.Map // reflect.Type → []field
	durationType = reflect.TypeOf(time.Duration(0))
	byteSizeType = reflect.TypeOf(ByteSize(0))
)

// fieldsOf lists the YAML fields of struct type t, with inline structs flattened.
func fieldsOf(t reflect.Type) []field {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.([]field)
	}
	var out []field
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tg := parseTag(sf)
		if tg.key == "-" || !sf.IsExported() {
			continue
		}
		if tg.inline {
			for _, f := range fieldsOf(sf.Type) {
				f.index = append([]int{i}, f.index...)
				out = append(out, f)
			}
			continue
		}
		out = append(out, field{tag: tg, index: []int{i}, typ: sf.Type})
	}
	fieldCache.Store(t, out)
	return out
}

func parseTag(sf reflect.StructField) tag {
	y := sf.Tag.Get("yaml")
	key, opts, _ := strings.Cut(y, ",")
	t := tag{key: key, inline: opts == "inline", doc: sf.Tag.Get("doc")}
	for _, c := range strings.Split(sf.Tag.Get("talon"), ",") {
		name, val, _ := strings.Cut(c, "=")
		switch name {
		case "":
		case "required":
			t.required = true
		case "min", "max":
			f, err := strconv.ParseFloat(val, 64)
			if err != nil {
				panic(fmt.Sprintf("policy: bad %s in tag of %s", name, sf.Name))
			}
			if name == "min" {
				t.min = &f
			} else {
				t.max = &f
			}
		case "enum":
			t.enum = strings.Split(val, "|")
		default:
			if checks[name] == nil {
				panic("policy: unknown check " + name + " on " + sf.Name)
			}
			t.checks = append(t.checks, name)
		}
	}
	return t
}
