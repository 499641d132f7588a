package redis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/config"
)

// Bounds of the tests' waits: generous, for a loaded 2-core machine. They
// say "this did not hang", never "this was fast to the millisecond".
const (
	waitUp       = 15 * time.Second // background connect / recovery
	failFastMax  = 3 * time.Second  // a call that must not wait for Redis
	testPassword = "pw-Zq8s1!"      // must never appear in an error or a log line
)

// section returns a validated redis section for addr, changed by edit.
func section(t testing.TB, addr string, edit func(r *config.Redis)) *config.Redis {
	t.Helper()
	r := &config.Redis{Addresses: []string{addr}, DialTimeout: config.Duration(time.Second),
		ReadTimeout: config.Duration(time.Second)}
	if edit != nil {
		edit(r)
	}
	cfg := &config.Config{Redis: r}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	return r
}

// logBuffer collects logf lines.
type logBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (l *logBuffer) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// newClient makes a client closed at the end of the test; its log goes to
// the returned buffer and, on failure, to the test log.
func newClient(t testing.TB, r *config.Redis) (*Client, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	c, err := New(r, logs.logf)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		c.Close()
		if t.Failed() {
			t.Logf("client log:\n%s", logs)
		}
	})
	return c, logs
}

// connectedClient is newClient, waiting for the background connect.
func connectedClient(t testing.TB, r *config.Redis) *Client {
	t.Helper()
	c, _ := newClient(t, r)
	waitConnected(t, c)
	return c
}

func waitConnected(t testing.TB, c *Client) {
	t.Helper()
	deadline := time.Now().Add(waitUp)
	for !c.Connected() {
		if time.Now().After(deadline) {
			_, _, err := c.Get(context.Background(), "x")
			t.Fatalf("not connected after %s: %v", waitUp, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// eventually retries op until it succeeds, failing the test after waitUp.
func eventually(t testing.TB, what string, op func() error) {
	t.Helper()
	deadline := time.Now().Add(waitUp)
	for {
		err := op()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %s: %v", what, waitUp, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// timed runs op and returns its error and duration.
func timed(op func() error) (error, time.Duration) {
	start := time.Now()
	err := op()
	return err, time.Since(start)
}

// wantKind checks that err is an *Error of kind and holds no password.
func wantKind(t testing.TB, err, kind error) {
	t.Helper()
	var e *Error
	switch {
	case err == nil:
		t.Fatalf("no error, want %v", kind)
	case !errors.As(err, &e):
		t.Fatalf("error %T %v is not an *Error", err, err)
	case !errors.Is(err, kind):
		t.Fatalf("error %q is not %v", err, kind)
	case strings.Contains(err.Error(), testPassword):
		t.Fatalf("error shows the password: %v", err)
	}
}
