package config

import (
	"bytes"
	"errors"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads, decodes and validates the YAML file at path. Errors name path
// as given; a file that cannot be read returns the os error as is.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data, path)
}

// Parse decodes and validates one YAML document; filename is only used in
// error messages. Empty input is the zero Config with its defaults. The
// error, if any, is an Errors listing every problem found (wrapping
// ErrInvalid, ErrSyntax or ErrTooComplex).
func Parse(data []byte, filename string) (*Config, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, syntaxError(filename, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, syntaxError(filename, err)
		}
		return nil, Errors{{File: filename, Line: extra.Line, Msg: "a second YAML document; a configuration is one document", kind: ErrSyntax}}
	}
	cfg := &Config{src: newSource(filename)}
	var errs errorList
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		d := decoder{src: cfg.src, errs: &errs}
		d.decode(doc.Content[0], reflect.ValueOf(cfg).Elem(), "", 0)
		if d.exhausted {
			return nil, errs.err()
		}
	}
	v := validator{src: cfg.src, errs: &errs}
	v.config(cfg)
	if err := errs.err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// syntaxError turns a yaml parser error ("yaml: line 3: could not find
// expected ':'") into an Error with the line split out.
func syntaxError(filename string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, after, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				line, msg = n, after
			}
		}
	}
	return Errors{{File: filename, Line: line, Msg: msg, kind: ErrSyntax}}
}
