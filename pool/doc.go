// Package pool holds the engine's pools: idle upstream keep-alive
// connections keyed by target (keepalive.go), per worker, and the body
// buffers policies hold whole (buffers.go), per process.
//
// The keep-alive pool belongs to one worker (one event loop) and is not safe
// for concurrent use: that is the point. A worker takes and returns its own
// connections without locks, as an nginx worker does with its keepalive
// cache (ngx_http_upstream_keepalive_module), and a connection closed by
// the upstream is noticed by the same loop before it can be reused.
package pool
