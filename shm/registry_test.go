package shm

import (
	"errors"
	"slices"
	"testing"
)

func TestRegistry(t *testing.T) {
	clock := newFakeClock()
	r, err := NewRegistry(map[string]int64{"limits": 10 << 20, "cache": 1 << 20}, WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Names(); !slices.Equal(got, []string{"cache", "limits"}) {
		t.Fatalf("Names = %q", got)
	}
	limits := r.Dict("limits")
	if limits == nil || limits.Name() != "limits" || limits.Capacity() != 10<<20 {
		t.Fatalf("limits dict: %v", limits)
	}
	if _, ok := r.Lookup("nope"); ok || r.Dict("nope") != nil {
		t.Fatal("found a dict that was not declared")
	}
	_, _ = limits.Incr([]byte("k"), 1, 0, 0)

	// A reload keeps same-size dicts with their contents, rebuilds resized
	// ones, adds new ones and drops removed ones.
	r2, err := r.Rebuild(map[string]int64{"limits": 10 << 20, "cache": 2 << 20, "health": 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if r2.Dict("limits") != limits {
		t.Fatal("an unchanged dict was not carried over")
	}
	if v, ok := r2.Dict("limits").Get([]byte("k"), nil); !ok || v.Int != 1 {
		t.Fatal("carried-over dict lost its contents")
	}
	if r2.Dict("cache") == r.Dict("cache") || r2.Dict("cache").Capacity() != 2<<20 {
		t.Fatal("a resized dict was not rebuilt")
	}
	if r2.Dict("health") == nil || r.Dict("health") != nil {
		t.Fatal("new dict missing, or old registry modified")
	}
	// Options given at creation carry over to rebuilt dicts.
	_ = r2.Dict("health").SetString("x", IntValue(1), 1)
	if ttl, _ := r2.Dict("health").TTL([]byte("x")); ttl != 1 {
		t.Fatalf("rebuilt dict does not use the registry's clock: TTL %v", ttl)
	}
	r3, _ := r2.Rebuild(map[string]int64{"limits": 10 << 20})
	if r3.Dict("cache") != nil {
		t.Fatal("a removed dict is still there")
	}
}

func TestRegistryErrors(t *testing.T) {
	if _, err := NewRegistry(map[string]int64{"": 1 << 20}); !errors.Is(err, ErrBadName) {
		t.Errorf("empty name: %v", err)
	}
	if _, err := NewRegistry(map[string]int64{"tiny": 10}); !errors.Is(err, ErrBadSize) {
		t.Errorf("tiny dict: %v", err)
	}
	r, err := NewRegistry(nil)
	if err != nil || len(r.Names()) != 0 {
		t.Errorf("empty registry: %v %v", r, err)
	}
}
