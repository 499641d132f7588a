// Package redis is the gateway's one Redis client, shared by every policy
// that keeps state in Redis (distributed rate-limit counters, cache entries,
// sessions): one per process, built from the top-level "redis:" section of
// the configuration (config.Redis) on github.com/redis/rueidis with its
// auto-pipelining, so that concurrent calls from every worker share a few
// connections and their round trips.
//
// It is a package of its own because nothing in the layout fits: it is not
// per worker (pool/), not a policy (policies/), and it outlives every config
// snapshot the engine builds, like the process-wide parts cmd/sluice wires.
//
// # Never blocking the gateway
//
// Calls block their goroutine until Redis answers, so policies make them off
// the event loop, in the engine's suspension path, with the context it gives
// them (cancelled when the client goes or the phase deadline passes). Every
// call is also bounded by the section's read_timeout, even when its context
// has no deadline.
//
// Redis being down must not stop or slow the gateway. New never waits for
// Redis: it connects in the background, retrying with a capped backoff, and
// until the first connection succeeds every call fails at once with
// ErrUnavailable, without touching the network. Once connected, a lost
// connection is dialled again by the next call (bounded like the call), and
// calls fail with ErrUnavailable or ErrTimeout until Redis is back. Read-only
// commands are not retried behind the caller's back: the policy decides
// whether to fail open or closed, quickly.
//
// Errors are *Error values wrapping one of the sentinels of errors.go; none
// of them, and no log line, holds the password.
package redis
