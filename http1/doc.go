// Package http1 parses and serializes HTTP/1.1 message heads without copying:
// parsers record offsets (Span) into the caller's buffer, never strings.
package http1
