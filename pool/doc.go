// Package pool holds the per-worker pools of the engine: idle upstream
// keep-alive connections keyed by target, and reusable byte buffers.
//
// Pools here belong to one worker (one event loop) and are not safe for
// concurrent use: that is the point. A worker takes and returns its own
// connections without locks, as an nginx worker does with its keepalive
// cache (ngx_http_upstream_keepalive_module), and a connection closed by
// the upstream is noticed by the same loop before it can be reused.
package pool
