package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// DecodePolicyConfig decodes spec.Config into dst, a non-nil pointer to the
// policy's own config type, with the strictness of Parse: unknown keys and
// values of the wrong type are errors naming the file, line and path
// ("sluice.yaml:22: routes[0].policies[1].config.cout: unknown field ...").
// Fields take their YAML names from `yaml` tags, like yaml.v3; Duration and
// Size fields and any yaml.Unmarshaler work. An absent config leaves dst
// unchanged. Range checks are the factory's: report them with FieldError.
//
// It is safe for concurrent use as long as each call has its own dst.
func DecodePolicyConfig(spec PolicySpec, dst any) error {
	rv := reflect.ValueOf(dst)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return ErrNotPointer
	}
	if isNull(&spec.Config) {
		return nil
	}
	var errs errorList
	d := decoder{src: newSource(spec.File), errs: &errs}
	d.decode(&spec.Config, rv.Elem(), joinPath(spec.Path, "config"), spec.Config.Line)
	return errs.err()
}

// FieldError reports a problem with the field of a policy's config, for the
// policy's factory: FieldError(spec, "count", "must be > 0") reads
// "sluice.yaml:22: routes[0].policies[1].config.count: must be > 0". field is
// a path inside the config ("count", "request.set", "rules[2].name", or ""
// for the config as a whole); the line is that of the field's key when the
// config holds it, else that of its nearest enclosing key, else the
// config's first line, else the policy's. The error wraps ErrInvalid.
func FieldError(spec PolicySpec, field, msg string) error {
	line := spec.Line
	if n := findField(&spec.Config, field); n != nil && n.Line > 0 {
		line = n.Line
	}
	return &Error{File: spec.File, Line: line, Path: joinPath(joinPath(spec.Path, "config"), field), Msg: msg}
}

// SpecError reports a problem with a field of the spec itself ("name",
// "id"), not of its config: "sluice.yaml:21: routes[0].policies[1].name:
// unknown policy". The error wraps ErrInvalid.
func SpecError(spec PolicySpec, field, msg string) error {
	return &Error{File: spec.File, Line: spec.Line, Path: joinPath(spec.Path, field), Msg: msg}
}

// FieldErrorf is FieldError with a formatted message.
func FieldErrorf(spec PolicySpec, field, format string, args ...any) error {
	return FieldError(spec, field, fmt.Sprintf(format, args...))
}

// findField follows a path like "rules[2].name" into n, returning the
// deepest node reached: the field's key when it exists, otherwise its
// nearest existing parent. It returns nil only for an empty n.
func findField(n *yaml.Node, field string) *yaml.Node {
	if isNull(n) && n.Line == 0 {
		return nil
	}
	found := n
	for field != "" {
		for n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		var step string
		if field[0] == '[' {
			end := strings.IndexByte(field, ']')
			if end < 0 {
				return found
			}
			step, field = field[:end+1], field[end+1:]
			i, err := strconv.Atoi(step[1 : len(step)-1])
			if err != nil || n.Kind != yaml.SequenceNode || i < 0 || i >= len(n.Content) {
				return found
			}
			n = n.Content[i]
			found = n
		} else {
			field = strings.TrimPrefix(field, ".")
			end := strings.IndexAny(field, ".[")
			if end < 0 {
				end = len(field)
			}
			step, field = field[:end], field[end:]
			if n.Kind != yaml.MappingNode {
				return found
			}
			var next *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == step {
					found, next = n.Content[i], n.Content[i+1]
					break
				}
			}
			if next == nil {
				return found
			}
			n = next
		}
	}
	return found
}
