package redis

import (
	"bytes"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sluice-gw/sluice/config"
)

// Loop is what a gateway's event loops need to talk to a standalone Redis
// server themselves, each on a connection of its own (engine.Peer): the
// address, the commands that open every connection, and the framing of
// replies (resp.go). A rate-limit decision then costs its worker no
// goroutine, no hand-off and, under load, a share of one write and one
// read for the many calls pipelined together.
//
// Cluster and sentinel modes (which follow slot maps and failovers) and
// TLS have none: their calls go through Client on goroutines.
type Loop struct {
	addr        string
	greeting    []byte // AUTH, SELECT, CLIENT SETNAME: holds the password, never logged
	replies     int
	password    string
	dialTimeout time.Duration
	callTimeout time.Duration
	stats       *counters

	// Whether the server answers the loops: how many workers' connections
	// failed last, and whether one ever answered (PeerState).
	failing  atomic.Int32
	answered atomic.Bool
}

// newLoop returns the loop access to cfg's server, or nil when cfg's mode
// or TLS rules it out.
func newLoop(cfg *config.Redis, stats *counters) *Loop {
	if cfg.Mode != config.RedisStandalone || cfg.TLS || len(cfg.Addresses) != 1 {
		return nil
	}
	l := &Loop{addr: cfg.Addresses[0], password: cfg.AuthPassword(), dialTimeout: cfg.DialTimeout.Std(),
		callTimeout: cfg.ReadTimeout.Std(), stats: stats}
	if l.password != "" {
		if cfg.Username != "" {
			l.greeting = AppendArray(l.greeting, 3)
			l.greeting = AppendBulkString(AppendBulkString(l.greeting, "AUTH"), cfg.Username)
		} else {
			l.greeting = AppendArray(l.greeting, 2)
			l.greeting = AppendBulkString(l.greeting, "AUTH")
		}
		l.greeting = AppendBulkString(l.greeting, l.password)
		l.replies++
	}
	if cfg.Database != 0 {
		l.greeting = AppendArray(l.greeting, 2)
		l.greeting = AppendBulkInt(AppendBulkString(l.greeting, "SELECT"), int64(cfg.Database))
		l.replies++
	}
	l.greeting = AppendArray(l.greeting, 3)
	l.greeting = AppendBulkString(AppendBulkString(AppendBulkString(l.greeting, "CLIENT"), "SETNAME"), "sluice-loop")
	l.replies++
	return l
}

// Loop returns the access for event loops to the client's server, or nil
// (cluster, sentinel, TLS).
func (c *Client) Loop() *Loop { return c.loop }

// Addr is the server's host:port.
func (l *Loop) Addr() string { return l.addr }

// DialTimeout bounds connecting (the section's dial_timeout).
func (l *Loop) DialTimeout() time.Duration { return l.dialTimeout }

// CallTimeout bounds a call (the section's read_timeout).
func (l *Loop) CallTimeout() time.Duration { return l.callTimeout }

// Greeting returns the commands a new connection sends first and how many
// replies they get. The bytes hold the password: write them, never log
// them.
func (l *Loop) Greeting() ([]byte, int) { return l.greeting, l.replies }

// CheckGreeting returns the error of one of the greeting's replies (an
// *Error of kind ErrUnavailable, with ErrAuth when credentials were
// refused), or nil.
func (l *Loop) CheckGreeting(reply []byte) error {
	msg, ok := ErrorReply(reply)
	if !ok {
		return nil
	}
	text := string(msg)
	if l.password != "" {
		text = strings.ReplaceAll(text, l.password, "[password]")
	}
	prefix, _, _ := strings.Cut(text, " ")
	return &Error{Msg: "connection refused by the server: " + text, kind: ErrUnavailable,
		auth: prefix == "WRONGPASS" || prefix == "NOAUTH" || prefix == "NOPERM"}
}

// ReplyLen frames replies (see the package function).
func (*Loop) ReplyLen(buf []byte) (int, error) { return ReplyLen(buf) }

// Count records the outcome of one call made on an event loop in the
// client's Stats: nil, or the kind of failure (ErrTimeout, ErrUnavailable,
// ErrReply, ErrClosed, ErrCanceled).
func (l *Loop) Count(kind error) {
	l.stats.calls.Add(1)
	if kind != nil {
		l.stats.count(kind)
	}
}

// PeerState hears of a worker connection's health (engine.PeerWatcher).
func (l *Loop) PeerState(up, wasDown bool) {
	switch {
	case up && wasDown:
		l.failing.Add(-1)
	case !up:
		l.failing.Add(1)
	}
	if up {
		l.answered.Store(true)
	}
}

// Reachable says whether the server answers the event loops: one of their
// connections got replies, and none failed since its last ones.
func (l *Loop) Reachable() bool { return l.answered.Load() && l.failing.Load() == 0 }

// IsNoScript says whether reply is the error reply of an EVALSHA whose
// script the server does not have (it restarted, or SCRIPT FLUSH ran):
// the caller sends the script itself with EVAL.
func IsNoScript(reply []byte) bool {
	msg, ok := ErrorReply(reply)
	return ok && bytes.HasPrefix(msg, []byte("NOSCRIPT"))
}
