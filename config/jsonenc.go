package config

import (
	"encoding"
	"errors"
	"math"
	"reflect"
	"strconv"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// The Admin API answers every write with the resource as it now is, and
// every GET with resources, in JSON whose keys are in the YAML form's
// order. Through yaml.v3 that is Node.Encode, which emits the YAML text
// and parses it back into nodes: about 0.1 ms for one route, on the
// request's goroutine at the loops' priority, at every change, and over a
// second for GET /config of 10,000 routes. jsonValue writes the same JSON
// from the values directly, reading the yaml tags as yaml.v3 does
// (fieldsOf), and writes through the node tree only the parts it would
// have to reproduce yaml.v3 to get right: maps (yaml.v3's key order),
// strings that are not UTF-8 (!!binary), structs with embedded fields,
// times, and with redaction credentials (redact works on the tree).
// TestEncodeJSONAgreesWithTheNodeTree and its fuzz test hold the two ways
// to the same bytes.

// errByNodes says the value goes through the node tree.
var errByNodes = errors.New("config: encoded through yaml nodes")

var (
	yamlMarshaler = reflect.TypeFor[yaml.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
	durationType  = reflect.TypeFor[time.Duration]()
	timeType      = reflect.TypeFor[time.Time]()
)

// jsonValue writes values as JSON, secrets redacted when redacting.
type jsonValue struct {
	redacting bool
	byNodesN  int // values written through the node tree (byNodes)
}

// append writes v, field being the key it is the value of (redact reads
// it): directly, or through the node tree where direct says errByNodes.
func (e *jsonValue) append(dst []byte, v reflect.Value, field string) ([]byte, error) {
	out, err := e.direct(dst, v, field)
	if err == errByNodes {
		return e.byNodes(dst, v, field)
	}
	return out, err
}

// direct writes v, field being the key it is the value of, or says
// errByNodes.
func (e *jsonValue) direct(dst []byte, v reflect.Value, field string) ([]byte, error) {
	if !v.IsValid() || (v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface) && v.IsNil() {
		return append(dst, "null"...), nil
	}
	t := v.Type()
	switch {
	case t == nodeType: // a *yaml.Node gets here through the pointer's Elem
		return e.node(dst, v, field)
	case t == timeType || t.Kind() == reflect.Pointer && t.Elem() == timeType:
		return nil, errByNodes
	case t == durationType:
		return e.string(dst, time.Duration(v.Int()).String()) // yaml.v3 writes it so
	case t.Implements(yamlMarshaler):
		m, err := v.Interface().(yaml.Marshaler).MarshalYAML()
		if err != nil {
			return nil, err
		}
		return e.append(dst, reflect.ValueOf(m), field)
	case t.Implements(textMarshaler):
		text, err := v.Interface().(encoding.TextMarshaler).MarshalText()
		if err != nil {
			return nil, err
		}
		return e.string(dst, string(text))
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		return e.append(dst, v.Elem(), field)
	case reflect.Struct:
		return e.structure(dst, v)
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return nil, errByNodes
		}
		dst = append(dst, '[')
		for i := range v.Len() {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = e.append(dst, v.Index(i), field); err != nil {
				return nil, err
			}
		}
		return append(dst, ']'), nil
	case reflect.Map:
		if v.Len() == 0 {
			return append(dst, "{}"...), nil
		}
		return nil, errByNodes
	case reflect.String:
		return e.string(dst, v.String())
	case reflect.Bool:
		return strconv.AppendBool(dst, v.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.AppendInt(dst, v.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.AppendUint(dst, v.Uint(), 10), nil
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, errByNodes // YAML's .inf and .nan: strings in the node tree's JSON
		}
		bits := 64
		if v.Kind() == reflect.Float32 {
			bits = 32
		}
		return strconv.AppendFloat(dst, f, 'g', -1, bits), nil
	}
	return nil, errByNodes
}

// structure writes a struct's fields in their order, by their yaml names,
// leaving out the zero ",omitempty" ones as yaml.v3 does (yamlZero).
func (e *jsonValue) structure(dst []byte, v reflect.Value) ([]byte, error) {
	fs := fieldsOf(v.Type())
	if fs.unusual {
		return nil, errByNodes
	}
	dst = append(dst, '{')
	first := true
	for i, name := range fs.names {
		f := v.FieldByIndex(fs.byName[name])
		if fs.omitEmpty[i] && yamlZero(f) {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		var err error
		if dst, err = e.string(dst, name); err != nil {
			return nil, err
		}
		dst = append(dst, ':')
		if e.redacting && name == "credentials" {
			dst, err = e.byNodes(dst, f, name) // redact works on the tree
		} else {
			dst, err = e.append(dst, f, name)
		}
		if err != nil {
			return nil, err
		}
	}
	return append(dst, '}'), nil
}

// node writes a yaml.Node value (a policy's config) as the node tree's
// JSON is written. One with credentials in it goes through yaml.v3, to be
// redacted on a copy.
func (e *jsonValue) node(dst []byte, v reflect.Value, field string) ([]byte, error) {
	var n *yaml.Node
	if v.CanAddr() {
		n = v.Addr().Interface().(*yaml.Node)
	} else {
		c := v.Interface().(yaml.Node)
		n = &c
	}
	if n.Kind == 0 || e.redacting && hasKey(n, "credentials", 0) {
		return nil, errByNodes
	}
	return appendJSON(dst, n), nil
}

func (e *jsonValue) string(dst []byte, s string) ([]byte, error) {
	if !utf8.ValidString(s) {
		return nil, errByNodes // yaml.v3 writes it as !!binary
	}
	return appendJSONString(dst, s), nil
}

// byNodes writes v through yaml.v3's node tree, redacted there, field
// being the key it is the value of (the redaction reads it).
func (e *jsonValue) byNodes(dst []byte, v reflect.Value, field string) ([]byte, error) {
	e.byNodesN++
	var n yaml.Node
	if err := n.Encode(v.Interface()); err != nil {
		return nil, err
	}
	if e.redacting {
		redact(&n, field)
	}
	return appendJSON(dst, &n), nil
}

// hasKey says whether a mapping in n has the key.
func hasKey(n *yaml.Node, key string, depth int) bool {
	if depth > maxDepth {
		return true // the node tree's way decides, as for any document
	}
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				return true
			}
		}
	}
	for _, c := range n.Content {
		if hasKey(c, key, depth+1) {
			return true
		}
	}
	return n.Alias != nil && hasKey(n.Alias, key, depth+1)
}

// yamlZero is yaml.v3's test for ",omitempty": an IsZero method where there
// is one, else the kind's zero, a struct's being all its exported fields'.
func yamlZero(v reflect.Value) bool {
	kind := v.Kind()
	if z, ok := v.Interface().(interface{ IsZero() bool }); ok {
		if (kind == reflect.Pointer || kind == reflect.Interface) && v.IsNil() {
			return true
		}
		return z.IsZero()
	}
	switch kind {
	case reflect.String:
		return v.Len() == 0
	case reflect.Interface, reflect.Pointer:
		return v.IsNil()
	case reflect.Slice, reflect.Map:
		return v.Len() == 0
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() == 0
	case reflect.Float32, reflect.Float64:
		return v.Float() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return v.Uint() == 0
	case reflect.Bool:
		return !v.Bool()
	case reflect.Struct:
		t := v.Type()
		for i := v.NumField() - 1; i >= 0; i-- {
			if t.Field(i).IsExported() && !yamlZero(v.Field(i)) {
				return false
			}
		}
		return true
	}
	return false
}
