package redis

import (
	"errors"
	"strings"
)

// Sentinel errors. Every failed call returns an *Error wrapping exactly one
// of ErrUnavailable, ErrTimeout, ErrCanceled, ErrReply or ErrClosed (and
// ErrAuth besides, when credentials were refused); test them with errors.Is.
var (
	// ErrUnavailable: no connection to Redis could be used. The client has
	// not connected yet (Redis was down or refused the credentials when the
	// gateway started; calls then fail at once, without network I/O), the
	// connection broke or was refused, the address does not resolve, or
	// Redis answered LOADING, MASTERDOWN, CLUSTERDOWN, TRYAGAIN or READONLY
	// (it is starting or failing over).
	ErrUnavailable = errors.New("redis: unavailable")
	// ErrTimeout: the call's context deadline or the read_timeout of the
	// configuration passed before Redis answered (Redis slow, paused or
	// unreachable without a refusal).
	ErrTimeout = errors.New("redis: timeout")
	// ErrCanceled: the call's context was cancelled (the client of the
	// request went away) before Redis answered.
	ErrCanceled = errors.New("redis: canceled")
	// ErrReply: Redis answered the command with an error reply (wrong type,
	// script error, ...). The *Error names the command and quotes the reply.
	ErrReply = errors.New("redis: error reply")
	// ErrAuth: Redis refused the username or password (WRONGPASS, NOAUTH,
	// NOPERM at connection time). It comes with ErrUnavailable when the
	// client could not connect because of it, with ErrReply when a command
	// was refused.
	ErrAuth = errors.New("redis: authentication refused")
	// ErrClosed: the Client was closed.
	ErrClosed = errors.New("redis: client closed")
)

// Error is a failed call: what kind of failure (a sentinel above), the
// command, and why. It never holds the password.
type Error struct {
	// Cmd is the command name ("GET", "EVALSHA"); "" when no command was
	// sent (the client was not connected).
	Cmd string
	// Msg says why, in Redis's or the network's words.
	Msg string

	kind error // one of the sentinels
	auth bool  // also ErrAuth
}

// Error formats "redis: CMD: kind: msg".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.kind.Error())
	if e.Cmd != "" {
		b.WriteString(": ")
		b.WriteString(e.Cmd)
	}
	if e.Msg != "" {
		b.WriteString(": ")
		b.WriteString(e.Msg)
	}
	return b.String()
}

// Unwrap exposes the sentinels the error is an instance of.
func (e *Error) Unwrap() []error {
	if e.auth {
		return []error{e.kind, ErrAuth}
	}
	return []error{e.kind}
}
