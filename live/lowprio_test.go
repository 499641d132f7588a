package live

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
)

// A change that panics (a bug an Admin API body reaches) panics in the
// caller's goroutine, where net/http recovers it, with the change's
// stack; the store's lock is free and the next change applies. The panic
// was raised on the control thread: it ended the gateway.
func TestPanickingChangeRaisesInTheCaller(t *testing.T) {
	cfg, err := config.Parse([]byte("upstreams: [{name: up, targets: [{addr: 127.0.0.1:1}]}]\n"), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{}, cfg, &engine.Snapshot{Version: 1})
	defer s.Close()
	func() {
		defer func() {
			p := fmt.Sprint(recover())
			if !strings.Contains(p, "boom") || !strings.Contains(p, "TestPanickingChangeRaisesInTheCaller") {
				t.Fatalf("recovered %q, want the change's panic with its stack", p)
			}
		}()
		_, _ = s.Apply(Change{What: "panics", Edit: func(*config.Config) (*config.Config, error) { panic("boom") }})
		t.Fatal("Apply returned")
	}()
	res, err := s.Apply(Change{What: "no-op", Edit: func(c *config.Config) (*config.Config, error) { return c, nil }})
	if err != nil || res.New != 1 {
		t.Fatalf("the change after a panic: %+v, %v", res, err)
	}
}

// Close ends the store's control thread (each store left one goroutine
// locked to an OS thread for ever: a test making a store per case ran
// out of threads), and a change after Close is refused, not left waiting.
func TestCloseEndsTheControlThread(t *testing.T) {
	cfg, err := config.Parse([]byte("upstreams: [{name: up, targets: [{addr: 127.0.0.1:1}]}]\n"), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	noop := Change{What: "no-op", Edit: func(c *config.Config) (*config.Config, error) { return c, nil }}
	before := runtime.NumGoroutine()
	for i := 0; i < 20; i++ {
		s := New(Options{}, cfg, &engine.Snapshot{Version: 1})
		if _, err := s.Apply(noop); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Apply(noop); !errors.Is(err, ErrClosed) {
			t.Fatalf("a change after Close: %v, want ErrClosed", err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines before 20 stores were made and closed, %d after", before, runtime.NumGoroutine())
		}
		time.Sleep(time.Millisecond)
	}
}
