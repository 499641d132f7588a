package main

import "errors"

// Errors of the response reader. Each ends the connection it happened on:
// after any of them the stream is no longer at a response boundary.
var (
	// errBodyUntilClose: the response has neither Content-Length nor chunked
	// framing, so its end is the connection's close, which a kept-alive
	// client cannot wait for.
	errBodyUntilClose = errors.New("rateload: response body runs until close (no Content-Length, not chunked)")
	// errNotKeepAlive: the server announced it closes the connection after
	// this response (Connection: close, or HTTP/1.0 without keep-alive).
	errNotKeepAlive = errors.New("rateload: server closes the connection after this response")
	// errUpgrade: a 101 answer to a plain GET; what follows is not HTTP.
	errUpgrade = errors.New("rateload: server switched protocols")
	// errBufferFull: the response head does not fit the read buffer.
	errBufferFull = errors.New("rateload: response head larger than the read buffer")
)
