package live

import (
	"errors"
	"testing"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
)

// Hold refuses changes (ErrHeld) but dry runs, and changes nothing;
// Release takes them again.
func TestHoldRefusesChangesUntilRelease(t *testing.T) {
	cfg := manyRoutes(t, 3)
	c := engine.NewCompiler(nil)
	t.Cleanup(c.Close)
	snap, err := c.Compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := engine.NewServer(engine.Options{Listen: "127.0.0.1:0", Workers: 1}, snap)
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{Server: srv, Compiler: c}, cfg, snap)
	t.Cleanup(func() { s.Close() })
	put := func(dry bool) error {
		_, err := s.Apply(Change{Who: "test", What: "PUT /routes/r1", DryRun: dry, Edit: func(run *config.Config) (*config.Config, error) {
			next, _, err := run.PutRoute("r1", []byte(`{"match": {"paths": ["/held/*"]}, "upstream": "up"}`), "body")
			return next, err
		}})
		return err
	}
	s.Hold()
	_, before := s.Current()
	if err := put(false); !errors.Is(err, ErrHeld) {
		t.Fatalf("a change while held: %v, want ErrHeld", err)
	}
	if err := put(true); err != nil {
		t.Fatalf("a dry run while held: %v", err)
	}
	if _, v := s.Current(); v != before {
		t.Fatalf("the version moved from %d to %d while held", before, v)
	}
	s.Release()
	if err := put(false); err != nil {
		t.Fatalf("a change after Release: %v", err)
	}
	if _, v := s.Current(); v == before {
		t.Fatal("the change after Release did not apply")
	}
}
