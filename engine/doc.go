// Package engine is Sluice's data path: a gnet event handler whose event
// loops are nginx-style workers. A worker owns, without locks, its client
// and upstream connections, its request contexts, its upstream keep-alive
// pool and its timer wheel; only the config snapshot, the shared dicts and
// the metrics are shared between workers.
//
// Everything named "on loop" in this package runs on a worker's event loop
// and must not block: no syscalls that wait, no locks held across I/O, no
// channel operations that can wait. Work that has to wait (dialing an
// upstream, a policy calling out) runs on goroutines and comes back to the
// loop through EventLoop.Execute, checking a generation counter because the
// connection may be gone or serving another request by then.
package engine
