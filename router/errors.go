package router

import (
	"errors"
	"fmt"
	"strconv"
)

// Sentinel errors, wrapped by PatternError and ConflictError.
var (
	// ErrBadHost: a host pattern is empty, carries a port, or is not a
	// host name, an IP literal, "*" or "*.domain".
	ErrBadHost = errors.New("router: bad host pattern")
	// ErrBadPath: a path pattern does not start with "/", holds a byte
	// that cannot appear in a request path, a "*" that is not a final
	// "/*", or a "{" that is not a whole "{name}" segment.
	ErrBadPath = errors.New("router: bad path pattern")
	// ErrTooManyParams: a path pattern has more than MaxParams parameters.
	ErrTooManyParams = errors.New("router: too many path parameters")
	// ErrBadMethod: a method is empty or not an HTTP token.
	ErrBadMethod = errors.New("router: bad method")
	// ErrBadRoute: Add was given a negative route index.
	ErrBadRoute = errors.New("router: negative route index")
	// ErrConflict: two routes match exactly the same requests.
	ErrConflict = errors.New("router: conflicting routes")
)

// PatternError reports a pattern Add refused.
type PatternError struct {
	Route   int    // route index given to Add
	Field   string // "hosts", "paths" or "methods"
	Index   int    // position in that list
	Pattern string // the pattern as given
	Err     error  // one of the sentinels, possibly wrapped with a reason
}

func (e *PatternError) Error() string {
	return "route " + strconv.Itoa(e.Route) + ": " + e.Field + "[" + strconv.Itoa(e.Index) + "] " +
		strconv.Quote(e.Pattern) + ": " + e.Err.Error()
}

func (e *PatternError) Unwrap() error { return e.Err }

// ConflictError reports two routes that match the same requests. Route was
// added after Other.
type ConflictError struct {
	Route, Other int
	Host         string // the host pattern in common, "*" for any
	Path         string // the path pattern in common, as written for Route
	Method       string // the method in common, "" for any
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("router: routes %d and %d both match %s", e.Other, e.Route, e.Overlap())
}

// Overlap describes the requests both routes match, for messages:
// `host "*", path "/users/{id}", any method`.
func (e *ConflictError) Overlap() string {
	m := "any method"
	if e.Method != "" {
		m = "method " + e.Method
	}
	return fmt.Sprintf("host %q, path %q, %s", e.Host, e.Path, m)
}

func (e *ConflictError) Unwrap() error { return ErrConflict }
