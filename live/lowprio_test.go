package live

import (
	"fmt"
	"strings"
	"testing"

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
