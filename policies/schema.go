package policies

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/sluice-gw/sluice/config"
	"go.yaml.in/yaml/v3"
)

// JSON Schemas (draft 2020-12) of the policies' configs, made by reflection
// from the config types they register (RegisterConfig), for the Admin API
// and `sluice validate` to publish. The schema follows what
// config.DecodePolicyConfig accepts: field names from yaml tags, unknown
// fields refused (additionalProperties: false), config.Duration and
// config.Size as the strings (or numbers) their decoders take. A field's
// description comes from its `desc:"..."` tag and a closed set of string
// values from `enum:"a|b"`: reflection cannot read doc comments.
//
// One difference stays: the decoder takes an empty value ("key:" or "key: ~")
// for any field as "the default"; the schema allows null only for pointer
// fields, where it is the documented way to say "unset".

// schemaDialect is the $schema of every published schema.
const schemaDialect = "https://json-schema.org/draft/2020-12/schema"

// durationPattern is what config.ParseDuration accepts: Go durations,
// without a sign of minus, or a bare 0.
const durationPattern = `^\s*(\+?0|\+?(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)\s*$`

// sizePattern is what config.ParseSize accepts in a string: a number of
// bytes with an optional unit (B, K/KiB/KB, M/MiB/MB, G/GiB/GB, T/TiB/TB).
const sizePattern = `^\s*[0-9]+\s*([bB]|[kKmMgGtT]([iI]?[bB])?)?\s*$`

var (
	durationType    = reflect.TypeOf(config.Duration(0))
	sizeType        = reflect.TypeOf(config.Size(0))
	yamlNodeType    = reflect.TypeOf(yaml.Node{})
	unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
)

// schemaNode is one JSON Schema; fields marshal in this order.
type schemaNode struct {
	Schema               string        `json:"$schema,omitempty"`
	Title                string        `json:"title,omitempty"`
	Description          string        `json:"description,omitempty"`
	Type                 any           `json:"type,omitempty"` // a string, or a list with "null"
	Enum                 []string      `json:"enum,omitempty"`
	Const                *int          `json:"const,omitempty"`
	Minimum              *int          `json:"minimum,omitempty"`
	Pattern              string        `json:"pattern,omitempty"`
	AnyOf                []*schemaNode `json:"anyOf,omitempty"`
	Items                *schemaNode   `json:"items,omitempty"`
	Properties           properties    `json:"properties,omitempty"`
	AdditionalProperties any           `json:"additionalProperties,omitempty"` // false, or a *schemaNode
}

// properties keep the struct's field order in the JSON.
type properties []property

type property struct {
	name   string
	schema *schemaNode
}

func (ps properties) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(',')
		}
		if err := writeJSON(&b, p.name, ""); err != nil {
			return nil, err
		}
		b.WriteByte(':')
		if err := writeJSON(&b, p.schema, ""); err != nil {
			return nil, err
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// writeJSON writes v without escaping <, > and & (descriptions read better),
// indented when indent is not empty.
func writeJSON(b *bytes.Buffer, v any, indent string) error {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", indent)
	if err := enc.Encode(v); err != nil {
		return err
	}
	b.Truncate(b.Len() - 1) // Encode's newline
	return nil
}

var zero = 0

// schemaOf makes the schema of values of type t.
func schemaOf(t reflect.Type) *schemaNode {
	switch t {
	case durationType:
		return &schemaNode{AnyOf: []*schemaNode{
			{Type: "string", Pattern: durationPattern, Description: `a duration such as "250ms", "5s" or "1m30s"`},
			{Const: &zero},
		}}
	case sizeType:
		return &schemaNode{AnyOf: []*schemaNode{
			{Type: "integer", Minimum: &zero, Description: "bytes"},
			{Type: "string", Pattern: sizePattern, Description: `a size such as "512KiB", "10MiB" or "1m" (binary units)`},
		}}
	case yamlNodeType:
		return &schemaNode{}
	}
	if t.Kind() == reflect.Pointer {
		s := schemaOf(t.Elem())
		if typ, ok := s.Type.(string); ok {
			s.Type = []string{typ, "null"}
		}
		return s
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		// Its own decoder decides: nothing to say about the shape.
		return &schemaNode{}
	}
	switch t.Kind() {
	case reflect.String:
		return &schemaNode{Type: "string"}
	case reflect.Bool:
		return &schemaNode{Type: "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return &schemaNode{Type: "integer"}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return &schemaNode{Type: "integer", Minimum: &zero}
	case reflect.Float32, reflect.Float64:
		return &schemaNode{Type: "number"}
	case reflect.Slice, reflect.Array:
		return &schemaNode{Type: "array", Items: schemaOf(t.Elem())}
	case reflect.Map:
		return &schemaNode{Type: "object", AdditionalProperties: schemaOf(t.Elem())}
	case reflect.Struct:
		s := &schemaNode{Type: "object", AdditionalProperties: false}
		addFields(s, t, map[string]bool{})
		return s
	}
	return &schemaNode{} // an interface: anything
}

// addFields adds t's fields to s as the config decoder sees them: exported,
// named by their yaml tag (or the lower-cased Go name), inline structs
// flattened, the first of two fields of one name winning.
func addFields(s *schemaNode, t reflect.Type, seen map[string]bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(","+opts+",", ",inline,") && f.Type.Kind() == reflect.Struct {
			addFields(s, f.Type, seen)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		if seen[name] {
			continue
		}
		seen[name] = true
		fs := schemaOf(f.Type)
		if d := f.Tag.Get("desc"); d != "" {
			fs.Description = d
		}
		if e := f.Tag.Get("enum"); e != "" {
			fs.Enum = strings.Split(e, "|")
		}
		s.Properties = append(s.Properties, property{name: name, schema: fs})
	}
}

// enumNarrower is implemented by a config type that shares a field with
// other policies (through an inline struct) but accepts fewer of its
// values: schemaEnums maps top-level property names to the values this
// policy accepts, replacing the field's enum tag. limit-req and
// limit-conn take policy: local or redis, not limit-count's redis-lease.
type enumNarrower interface {
	schemaEnums() map[string][]string
}

// configSchema is the published schema of a config type.
func configSchema(title string, t reflect.Type) ([]byte, error) {
	s := schemaOf(t)
	if n, ok := reflect.Zero(t).Interface().(enumNarrower); ok {
		for name, enum := range n.schemaEnums() {
			i := 0
			for i < len(s.Properties) && s.Properties[i].name != name {
				i++
			}
			if i == len(s.Properties) || s.Properties[i].schema.Enum == nil {
				return nil, fmt.Errorf("schemaEnums names %q, which is not a property with an enum", name)
			}
			s.Properties[i].schema.Enum = enum
		}
	}
	s.Schema = schemaDialect
	s.Title = title + " policy config"
	var b bytes.Buffer
	err := writeJSON(&b, s, "  ")
	return b.Bytes(), err
}

// Schema returns the JSON Schema (draft 2020-12, indented) of the config of
// the policy called name; false when there is no such policy or it was
// registered without a config type.
func Schema(name string) ([]byte, bool) {
	t := configTypeOf(name)
	if t == nil {
		return nil, false
	}
	b, err := configSchema(name, t)
	if err != nil {
		// Only a programming error in this file can fail to marshal.
		panic(fmt.Sprintf("policies: schema of %s: %v", name, err))
	}
	return b, true
}

// Schemas lists the policies that publish a config schema, sorted.
func Schemas() []string {
	var names []string
	for _, n := range Names() {
		if configTypeOf(n) != nil {
			names = append(names, n)
		}
	}
	return names
}
