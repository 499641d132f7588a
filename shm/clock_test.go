package shm

import (
	"testing"
	"time"
)

func TestMonotonicClock(t *testing.T) {
	a := MonotonicClock()
	b := MonotonicClock()
	if a < 0 || b < a {
		t.Fatalf("MonotonicClock went %d then %d", a, b)
	}
}

// TestCoarseClock checks the coarse clock advances and stops; it waits for
// progress with a generous deadline instead of asserting a speed.
func TestCoarseClock(t *testing.T) {
	c := NewCoarseClock(time.Millisecond)
	start := c.Now()
	deadline := time.Now().Add(10 * time.Second)
	for c.Now() == start {
		if time.Now().After(deadline) {
			t.Fatal("coarse clock did not advance in 10s")
		}
		time.Sleep(time.Millisecond)
	}
	c.Stop()
	c.Stop() // idempotent
	stopped := c.Now()
	time.Sleep(5 * time.Millisecond)
	if c.Now() != stopped {
		t.Fatal("coarse clock advanced after Stop")
	}

	d := mustNew(t, 1<<16, WithClock(c.Now))
	_ = d.SetString("k", IntValue(1), time.Millisecond)
	if _, ok := d.GetString("k", nil); !ok {
		t.Fatal("a stopped clock expired a fresh entry")
	}
}
