//go:build !race

package lb

import (
	"testing"
	"time"
)

// TestPickDoesNotAllocate pins the pick path's promise for every balancer,
// healthy, with a target down, with a Tried set, and in panic mode.
func TestPickDoesNotAllocate(t *testing.T) {
	for _, kind := range allKinds {
		t.Run(string(kind), func(t *testing.T) {
			u, _ := newTestUpstream(t, Config{Balancer: kind, MaxEjectedPercent: 100}, 1, 2, 3, 4, 5)
			p := u.newPicker(1)
			key := []byte("10.1.2.3")
			var tried Tried
			check := func(name string) { t.Helper(); expectNoPickAllocs(t, p, key, &tried, name) }
			check("healthy")
			ts := u.Snapshot().Targets()
			failTarget(ts[0], 1)
			check("one down")
			tried.Add(ts[1])
			check("with tried")
			tried.Reset()
			failTarget(ts[1], 1)
			failTarget(ts[2], 1)
			failTarget(ts[3], 1)
			check("panic")
		})
	}
}

// expectNoPickAllocs checks that a pick with its Begin and End allocates
// nothing, after a first pick has attached p to the snapshot.
func expectNoPickAllocs(t *testing.T, p *Picker, key []byte, tried *Tried, name string) {
	t.Helper()
	mustPick(t, p, key, tried)
	if n := testing.AllocsPerRun(1000, func() {
		x, err := p.Pick(key, tried)
		if err != nil {
			t.Fatal(err)
		}
		x.Begin()
		x.End(Outcome{Latency: time.Millisecond, Status: 200})
	}); n != 0 {
		t.Errorf("%s: %v allocs per pick", name, n)
	}
}

func TestHotPathHelpersDoNotAllocate(t *testing.T) {
	u, _ := newTestUpstream(t, Config{}, 1, 1)
	x := u.Snapshot().Targets()[0]
	cookie := []byte("a=1; sid=abc; b=2")
	uri := []byte("/p?a=1&user=42")
	method := []byte("GET")
	cases := map[string]func(){
		"End failure": func() { x.Begin(); x.End(Outcome{ConnectFailed: true}) },
		"Cancel":      func() { x.Begin(); x.Cancel() },
		"RecordRequest and AllowRetry": func() {
			u.RecordRequest()
			u.AllowRetry()
		},
		"ShouldRetry":  func() { u.ShouldRetry(method, 1, Outcome{Status: 503}) },
		"CookieValue":  func() { CookieValue(cookie, "sid") },
		"QueryArg":     func() { QueryArg(uri, "user") },
		"IsIdempotent": func() { IsIdempotent(method) },
		"Healthy":      func() { x.Healthy() },
	}
	for name, f := range cases {
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("%s: %v allocs", name, n)
		}
	}
}

// TestPickWithServerParamsDoesNotAllocate: drained targets, backups in use
// and retries falling through to the backups keep the pick path free of
// allocations.
func TestPickWithServerParamsDoesNotAllocate(t *testing.T) {
	for _, kind := range allKinds {
		t.Run(string(kind), func(t *testing.T) {
			u, _ := newTestUpstream(t, Config{Balancer: kind, MaxEjectedPercent: 100})
			flags := []string{"", "down", "", "backup", "backup"}
			if kind == Hash {
				flags = []string{"", "down", "", "", ""}
			}
			mustUpdate(t, u, withFlags(flags...))
			p := u.newPicker(1)
			key := []byte("10.1.2.3")
			var tried Tried
			check := func(name string) { t.Helper(); expectNoPickAllocs(t, p, key, &tried, name) }
			check("one drained")
			ts := u.Snapshot().Targets()
			tried.Add(ts[0])
			check("a primary tried")
			tried.Reset()
			failTarget(ts[0], 1)
			failTarget(ts[2], 1)
			check("primaries down")
		})
	}
}
