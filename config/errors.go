package config

import (
	"errors"
	"sort"
	"strconv"
	"strings"
)

// Sentinel errors. Every error this package returns wraps one of them, so
// callers can tell a refused configuration from an unreadable file with
// errors.Is; the wrapping error carries the precise location and reason.
var (
	// ErrInvalid: the configuration, or a policy's config, was read but a
	// value is unknown, of the wrong type, out of range or inconsistent.
	ErrInvalid = errors.New("config: invalid configuration")
	// ErrSyntax: the input is not well-formed YAML, or holds more than one
	// YAML document.
	ErrSyntax = errors.New("config: YAML syntax error")
	// ErrTooComplex: expanding the document's aliases visits more nodes than
	// maxNodes (a "billion laughs" document).
	ErrTooComplex = errors.New("config: document too large or too many aliases")
	// ErrNotPointer: DecodePolicyConfig was not given a non-nil pointer, a
	// bug in the calling factory rather than in the configuration.
	ErrNotPointer = errors.New("config: DecodePolicyConfig needs a non-nil pointer")
)

// maxListedErrors caps the errors an Errors message lists; the rest are
// counted. The full list stays available in the Errors value.
const maxListedErrors = 20

// Error is one problem at one place of a configuration.
// Its message is "file:line: path: message", leaving out the parts unknown.
type Error struct {
	File string // file name as given to Parse; "" when unknown
	Line int    // 1-based line; 0 when unknown (a Config built in Go)
	Path string // "routes[2].upstream"; "" for the document as a whole
	Msg  string // what is wrong, starting in lower case

	kind error // ErrInvalid, ErrSyntax or ErrTooComplex
}

// Error formats the location and the message.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteByte(':')
	}
	if e.Line > 0 {
		if e.File == "" {
			b.WriteString("line ")
		}
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteByte(':')
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the sentinel the error is an instance of.
func (e *Error) Unwrap() error {
	if e.kind == nil {
		return ErrInvalid
	}
	return e.kind
}

// Errors is every problem found in one configuration, in line order.
// Its message lists each on its own line, up to maxListedErrors.
type Errors []*Error

// Error lists the errors one per line.
func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i == maxListedErrors {
			b.WriteString("\n... and ")
			b.WriteString(strconv.Itoa(len(es) - i))
			b.WriteString(" more errors")
			break
		}
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap exposes each error to errors.Is and errors.As.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// errorList collects errors during decoding and validation.
type errorList struct {
	errs Errors
}

func (l *errorList) add(e *Error) { l.errs = append(l.errs, e) }

// err returns nil, or all the errors as Errors sorted by line (errors
// without a line last), keeping discovery order within a line.
func (l *errorList) err() error {
	if len(l.errs) == 0 {
		return nil
	}
	sort.SliceStable(l.errs, func(i, j int) bool {
		a, b := l.errs[i].Line, l.errs[j].Line
		if a == 0 || b == 0 {
			return a != 0 && b == 0
		}
		return a < b
	})
	return l.errs
}

// ErrorAt returns an error about the value at path in c ("routes[3].upstream"),
// located like Parse's errors: with c's file and the line of path or of its
// nearest enclosing value when c was parsed, without them when c was built
// in Go. The engine uses it for the checks only it can make, such as a
// route that has neither an upstream nor a policy answering by itself.
// The error wraps ErrInvalid.
func (c *Config) ErrorAt(path, msg string) error {
	e := &Error{Path: path, Msg: msg}
	if c.src != nil {
		e.File, e.Line = c.src.fileOf(path), c.src.lineOf(path)
	}
	return e
}
