// Package http1 parses and serializes HTTP/1.1 message heads without copying:
// parsers record offsets (Span) into the caller's buffer, never strings.
//
// # Parsing
//
// Request.Parse and Response.Parse take the bytes received so far, resume
// where the previous call stopped when more arrive (never rescanning an
// accepted line), and record the method, target parts, fields and the
// framing and connection facts the engine needs (Host, Content-Length,
// Transfer-Encoding, Connection, Upgrade, Expect), so the engine needs no
// lookups on the hot path. Field does a case-insensitive lookup without
// allocating. A warm Request or Response parses without allocating.
//
// The parsers are strict (RFC 9110, RFC 9112), because a gateway that reads
// a head differently from the server behind it is a request-smuggling
// vector. Refused: bare LF or bare CR as line terminators, obs-fold,
// whitespace before the first field or between a field name and its colon,
// non-token names, CTLs other than HTAB and DEL in values, extra or missing
// spaces in the request-line, Content-Length that is not 1*DIGIT or
// overflows int64 or appears twice, Transfer-Encoding together with
// Content-Length, Transfer-Encoding in HTTP/1.0 requests, a request
// Transfer-Encoding whose final coding is not chunked, unknown codings (501),
// HTTP/1.1 requests without exactly one Host.
//
// Decisions where the RFCs leave a choice:
//   - Empty lines (CRLF) before the request-line are skipped (RFC 9112 §2.2
//     allows it; old clients send a CRLF after a POST body). They count
//     toward Limits.MaxHeadBytes and HeadLen. Before a status-line they are
//     an error.
//   - A Content-Length list of equal values ("5, 5") and a repeated
//     Content-Length line with the same value are refused (RFC 9110 §8.6
//     permits either; refusing is the safe reading).
//   - Transfer-Encoding list elements may not be empty, and chunked may not
//     carry parameters.
//   - The request-target accepts every VCHAR except '#', including the few
//     RFC 3986 leaves out (" < > \ ^ ` { | }), as nginx does.
//   - A status-line may omit the SP before an empty reason-phrase
//     ("HTTP/1.1 200"), which real servers send.
//   - The Host value must be uri-host [":" port] characters without ','.
//
// # Chunked bodies
//
// ChunkedDecoder streams a chunked body without buffering: each call hands
// back at most one contiguous run of payload from the caller's bytes and
// reports how many bytes it consumed, so a proxy can relay them verbatim.
// AppendChunk, AppendChunkHeader and AppendLastChunk encode.
//
// # Serializing
//
// AppendRequestHead and AppendResponseHead build the head to forward: the
// original field lines byte for byte, minus hop-by-hop fields, plus Edits.
//
// # Concurrency and blocking
//
// Nothing in this package blocks or starts goroutines; all of it may run on
// an event loop. Request, Response, ChunkedDecoder and Edits are not safe for
// concurrent use: each belongs to one connection's worker. Spans and the
// byte slices derived from them alias the caller's buffer and live as long
// as it does; copy what must outlive it.
package http1
