package redis

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/sluice-gw/sluice/config"
)

// Backoff between two attempts of the background connect: from
// minConnectBackoff, doubling up to maxConnectBackoff, with ±20% jitter so
// that a fleet of gateways does not reconnect in step.
const (
	minConnectBackoff = 50 * time.Millisecond
	maxConnectBackoff = 2 * time.Second
	// relogEvery repeats an unchanged connect failure in the log at most
	// this often; a changed one is logged at once.
	relogEvery = time.Minute
)

// Client is the process's Redis client. It is safe for concurrent use by
// any number of goroutines; its calls block the calling goroutine (never
// call them on an event loop) for at most the read timeout.
type Client struct {
	_ noCopy

	opt         rueidis.ClientOption
	readTimeout time.Duration
	password    string // scrubbed from every message
	logf        func(string, ...any)

	// rc is set once, when the background connect succeeds, and never
	// changes after: rueidis re-dials lost connections by itself.
	rc atomic.Pointer[connected]
	// down is the error calls return while rc is nil: why the last connect
	// attempt failed. Built once per attempt, so failing fast allocates
	// nothing.
	down atomic.Pointer[Error]

	closeOnce sync.Once
	closing   chan struct{}
	wg        sync.WaitGroup
	mu        sync.Mutex // orders publishing rc against Close
	closed    bool

	stats counters

	loop    *Loop    // for the event loops' own connections; nil: none (loop.go)
	onClose []func() // OnClose's, under mu
}

// connected boxes the rueidis client (an interface) for atomic.Pointer.
type connected struct{ rueidis.Client }

// New returns the process's client for cfg, a section Validate accepted,
// and starts connecting in the background: it never waits for Redis, so a
// gateway starts while Redis is down, and calls fail with ErrUnavailable
// until the connection is up. logf, if not nil, receives the connection's
// state changes (never the password). The error is only for an unusable cfg
// (nil, or not validated).
func New(cfg *config.Redis, logf func(string, ...any)) (*Client, error) {
	if cfg == nil || len(cfg.Addresses) == 0 || cfg.Mode == "" || cfg.ReadTimeout <= 0 {
		return nil, errors.New("redis: New needs a validated config.Redis section")
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	c := &Client{
		opt:         clientOption(cfg),
		readTimeout: cfg.ReadTimeout.Std(),
		password:    cfg.AuthPassword(),
		logf:        logf,
		closing:     make(chan struct{}),
	}
	c.loop = newLoop(cfg, &c.stats)
	c.down.Store(&Error{kind: ErrUnavailable, Msg: "not connected yet"})
	c.wg.Add(1)
	go c.connectLoop(cfg.Mode)
	return c, nil
}

// connectLoop makes the rueidis client, retrying until it connects or the
// Client is closed. rueidis.NewClient fails unless it reaches Redis, hence
// this loop rather than a plain call in New.
func (c *Client) connectLoop(mode string) {
	defer c.wg.Done()
	backoff := minConnectBackoff
	var lastMsg string
	var lastLogged time.Time
	for attempt := 1; ; attempt++ {
		rc, err := rueidis.NewClient(c.opt)
		if err == nil {
			c.mu.Lock()
			if c.closed {
				c.mu.Unlock()
				rc.Close()
				return
			}
			c.rc.Store(&connected{rc})
			c.mu.Unlock()
			c.stats.connects.Add(1)
			c.logf("redis: connected to %s (%s) after %d attempt(s)", strings.Join(c.opt.InitAddress, ","), mode, attempt)
			return
		}
		c.stats.connectFailures.Add(1)
		down := c.newError("", err, ErrUnavailable)
		down.Msg = "cannot connect: " + down.Msg
		c.down.Store(down)
		if down.Msg != lastMsg || time.Since(lastLogged) >= relogEvery {
			c.logf("redis: %s (attempt %d; retrying in the background)", down.Msg, attempt)
			lastMsg, lastLogged = down.Msg, time.Now()
		}
		jitter := time.Duration(rand.Int64N(int64(backoff)*2/5)) - backoff/5
		select {
		case <-c.closing:
			return
		case <-time.After(backoff + jitter):
		}
		backoff = min(2*backoff, maxConnectBackoff)
	}
}

// OnClose has fn run by Close (at once if it ran already): what was made
// for this client's server (the event loops' connections to it) goes with
// it.
func (c *Client) OnClose(fn func()) {
	c.mu.Lock()
	if !c.closed {
		c.onClose = append(c.onClose, fn)
		fn = nil
	}
	c.mu.Unlock()
	if fn != nil {
		fn()
	}
}

// Close stops the background connect and closes the connections; calls in
// flight fail with ErrClosed and later calls at once. It waits for a
// connect attempt in progress (at most the dial timeout per address).
func (c *Client) Close() {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		hooks := c.onClose
		c.onClose = nil
		c.mu.Unlock()
		for _, fn := range hooks {
			fn()
		}
		close(c.closing)
		c.wg.Wait()
		if rc := c.rc.Load(); rc != nil {
			rc.Close()
		}
	})
}

// Connected reports whether the first connection succeeded (and Close was
// not called). A connected client may still fail calls while Redis is down.
func (c *Client) Connected() bool {
	return c.rc.Load() != nil && !c.isClosed()
}

func (c *Client) isClosed() bool {
	select {
	case <-c.closing:
		return true
	default:
		return false
	}
}

// client returns the rueidis client, or the error calls fail with before
// the connection is up or after Close.
func (c *Client) client() (rueidis.Client, *Error) {
	if c.isClosed() {
		return nil, errClosedCall
	}
	if rc := c.rc.Load(); rc != nil {
		return rc.Client, nil
	}
	return nil, c.down.Load()
}

// errClosedCall is the error of every call after Close.
var errClosedCall = &Error{kind: ErrClosed}

// B returns the command builder of the connected client, to build the
// commands passed to Do; before the first connection (and after Close) it
// fails with the error calls fail with. A built command must be passed to
// Do exactly once.
func (c *Client) B() (rueidis.Builder, error) {
	rc, down := c.client()
	if down != nil {
		return rueidis.Builder{}, down
	}
	return rc.B(), nil
}

// Do sends one command built with B and returns its reply. A nil reply
// (missing key) is not an error: check msg.IsNil(). Every error is an
// *Error; a Redis error reply wraps ErrReply and names the command.
func (c *Client) Do(ctx context.Context, cmd rueidis.Completed) (rueidis.RedisMessage, error) {
	rc, down := c.client()
	if down != nil {
		return c.failFast(down)
	}
	return c.do(ctx, rc, cmd)
}

// do is Do once the client is known.
func (c *Client) do(ctx context.Context, rc rueidis.Client, cmd rueidis.Completed) (rueidis.RedisMessage, error) {
	name := cmdName(cmd.Commands()) // rueidis recycles cmd in Do
	callCtx, cancel := c.bound(ctx)
	res := rc.Do(callCtx, cmd)
	if cancel != nil {
		cancel()
	}
	return c.result(ctx, res, name)
}

// failFast counts a call refused without network I/O.
func (c *Client) failFast(down *Error) (rueidis.RedisMessage, error) {
	c.stats.calls.Add(1)
	c.stats.count(down.kind)
	return rueidis.RedisMessage{}, down
}

// bound returns ctx bounded by the read timeout, and the cancel function to
// call after the call (nil when ctx's own deadline is already as close: no
// timer and no allocation then).
func (c *Client) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= c.readTimeout {
		return ctx, nil
	}
	return context.WithTimeout(ctx, c.readTimeout)
}

// result turns a rueidis result into the reply or an *Error, and counts it.
// ctx is the caller's, to tell its cancellation from the read timeout.
func (c *Client) result(ctx context.Context, res rueidis.RedisResult, cmd string) (rueidis.RedisMessage, error) {
	c.stats.calls.Add(1)
	msg, err := res.ToMessage()
	if err == nil || rueidis.IsRedisNil(err) {
		return msg, nil
	}
	e := c.classify(ctx, cmd, err)
	c.stats.count(e.kind)
	return rueidis.RedisMessage{}, e
}

// classify maps an error of rueidis, the network or a context to an *Error.
func (c *Client) classify(ctx context.Context, cmd string, err error) *Error {
	if prefix, ok := replyPrefix(err); ok {
		e := c.newError(cmd, err, ErrReply)
		switch prefix {
		case "LOADING", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "READONLY":
			e.kind = ErrUnavailable
		}
		return e
	}
	switch ctxErr := ctx.Err(); {
	case errors.Is(ctxErr, context.Canceled):
		return c.newError(cmd, ctxErr, ErrCanceled)
	case ctxErr != nil:
		return c.newError(cmd, ctxErr, ErrTimeout)
	}
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &netErr) && netErr.Timeout():
		return c.newError(cmd, err, ErrTimeout)
	case errors.Is(err, context.Canceled):
		return c.newError(cmd, err, ErrCanceled)
	case errors.Is(err, rueidis.ErrClosing) && c.isClosed():
		return c.newError(cmd, err, ErrClosed)
	}
	return c.newError(cmd, err, ErrUnavailable)
}

// newError builds an *Error of kind with err's text, the password cut out;
// an error reply refusing credentials is also ErrAuth.
func (c *Client) newError(cmd string, err error, kind error) *Error {
	msg := err.Error()
	if c.password != "" {
		msg = strings.ReplaceAll(msg, c.password, "[password]")
	}
	prefix, _ := replyPrefix(err)
	return &Error{Cmd: cmd, Msg: strings.Clone(msg), kind: kind,
		auth: prefix == "WRONGPASS" || prefix == "NOAUTH" || prefix == "NOPERM"}
}

// replyPrefix returns the first word of a Redis error reply ("WRONGTYPE",
// "NOAUTH"), and false when err is no error reply.
func replyPrefix(err error) (string, bool) {
	var re *rueidis.RedisError
	if !errors.As(err, &re) || re.IsNil() {
		return "", false
	}
	prefix, _, _ := strings.Cut(re.Error(), " ")
	return prefix, true
}

// cmdName is the command's name, its first word.
func cmdName(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}

// noCopy makes go vet's copylocks check flag copies of the types embedding it.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
