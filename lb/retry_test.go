package lb

import (
	"sync"
	"testing"
	"time"
)

// TestRetryBudgetCapsRetries: with a 20% budget and no floor, 100 requests
// allow 20 retries, however many are asked for.
func TestRetryBudgetCapsRetries(t *testing.T) {
	u, clock := newTestUpstream(t, Config{Retry: RetryConfig{Budget: 0.2, MinRetriesPerSecond: -1}}, 1)
	for range 100 {
		u.RecordRequest()
	}
	if allowed := countAllowed(u, 1000); allowed != 20 {
		t.Fatalf("%d retries allowed for 100 requests, want 20", allowed)
	}
	st := u.Status().RetryBudget
	if st.Requests != 100 || st.Retries != 20 {
		t.Fatalf("budget status %+v", st)
	}
	// The window is 10 s: after it the old counts no longer weigh.
	clock.Advance(10 * time.Second)
	if u.AllowRetry() {
		t.Fatal("a retry allowed with no request in the window")
	}
	u.RecordRequest()
	u.RecordRequest()
	u.RecordRequest()
	u.RecordRequest()
	u.RecordRequest()
	if !u.AllowRetry() || u.AllowRetry() {
		t.Fatal("5 new requests should allow exactly 1 retry")
	}
}

// TestRetryBudgetSlidingWindow: requests of the last 10 one-second buckets
// count, older ones do not.
func TestRetryBudgetSlidingWindow(t *testing.T) {
	u, clock := newTestUpstream(t, Config{Retry: RetryConfig{Budget: 0.5, MinRetriesPerSecond: -1}}, 1)
	for range 10 {
		u.RecordRequest() // 1 per second for 10 s
		clock.Advance(time.Second)
	}
	// Now at t=10s: the request of t=0 left the window, 9 remain.
	if req, _ := u.core.budget.totals(u.core.budget.second()); req != 9 {
		t.Fatalf("%d requests in the window, want 9", req)
	}
	if allowed := countAllowed(u, 10); allowed != 4 {
		t.Fatalf("%d retries allowed, want 4 (50%% of 9)", allowed)
	}
}

func TestRetryBudgetFloor(t *testing.T) {
	u, _ := newTestUpstream(t, Config{Retry: RetryConfig{MinRetriesPerSecond: 2}}, 1)
	if allowed := countAllowed(u, 100); allowed != 20 {
		t.Fatalf("floor of 2/s over 10 s allowed %d retries with no requests, want 20", allowed)
	}
}

// countAllowed asks for n retries and counts the ones allowed.
func countAllowed(u *Upstream, n int) int {
	allowed := 0
	for range n {
		if u.AllowRetry() {
			allowed++
		}
	}
	return allowed
}

func TestRetryBudgetOff(t *testing.T) {
	u, _ := newTestUpstream(t, Config{Retry: RetryConfig{Budget: -1}}, 1)
	for range 1000 {
		if !u.AllowRetry() {
			t.Fatal("budget off refused a retry")
		}
	}
}

func TestRetryBudgetConcurrent(t *testing.T) {
	u, _ := newTestUpstream(t, Config{Retry: RetryConfig{Budget: 0.1, MinRetriesPerSecond: -1}}, 1)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			for range 5000 {
				u.RecordRequest()
				if u.AllowRetry() {
					n++
				}
			}
			mu.Lock()
			allowed += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	// Retries never exceed 10% of the requests counted so far.
	if allowed > 2000 {
		t.Fatalf("%d retries for 20000 requests at a 10%% budget", allowed)
	}
	if allowed < 1900 {
		t.Fatalf("only %d retries for 20000 requests at a 10%% budget", allowed)
	}
}

func TestShouldRetry(t *testing.T) {
	cases := []struct {
		name     string
		cfg      RetryConfig
		method   string
		attempts int
		o        Outcome
		want     bool
	}{
		{"connect failure GET", RetryConfig{}, "GET", 1, Outcome{ConnectFailed: true}, true},
		{"timeout PUT", RetryConfig{}, "PUT", 1, Outcome{TimedOut: true}, true},
		{"tries used up", RetryConfig{}, "GET", 2, Outcome{ConnectFailed: true}, false},
		{"tries 3 second attempt", RetryConfig{Tries: 3}, "GET", 2, Outcome{ConnectFailed: true}, true},
		{"tries 1 is off", RetryConfig{Tries: 1}, "GET", 1, Outcome{ConnectFailed: true}, false},
		{"POST not idempotent", RetryConfig{}, "POST", 1, Outcome{ConnectFailed: true}, false},
		{"POST when allowed", RetryConfig{NonIdempotent: true}, "POST", 1, Outcome{ConnectFailed: true}, true},
		{"lowercase get is not GET", RetryConfig{}, "get", 1, Outcome{ConnectFailed: true}, false},
		{"503 by default", RetryConfig{}, "GET", 1, Outcome{Status: 503}, true},
		{"500 not by default", RetryConfig{}, "GET", 1, Outcome{Status: 500}, false},
		{"statuses explicitly none", RetryConfig{Statuses: []int{}}, "GET", 1, Outcome{Status: 503}, false},
		{"200", RetryConfig{}, "GET", 1, Outcome{Status: 200}, false},
		{"io error not by default", RetryConfig{}, "GET", 1, Outcome{IOError: true}, false},
		{"io error when on", RetryConfig{On: RetryOnError}, "GET", 1, Outcome{IOError: true}, true},
		{"invalid header when on", RetryConfig{On: RetryOnInvalidHeader}, "GET", 1, Outcome{InvalidHeader: true}, true},
		{"connect when only error on", RetryConfig{On: RetryOnError}, "GET", 1, Outcome{ConnectFailed: true}, false},
		{"RetryOnNone still retries statuses", RetryConfig{On: RetryOnNone}, "GET", 1, Outcome{Status: 502}, true},
		{"RetryOnNone no failures", RetryConfig{On: RetryOnNone}, "GET", 1, Outcome{ConnectFailed: true}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u, _ := newTestUpstream(t, Config{Retry: c.cfg}, 1)
			if got := u.ShouldRetry([]byte(c.method), c.attempts, c.o); got != c.want {
				t.Fatalf("ShouldRetry = %v, want %v", got, c.want)
			}
		})
	}
}

func TestShouldRetryRespectsBudget(t *testing.T) {
	u, _ := newTestUpstream(t, Config{Retry: RetryConfig{Budget: 0.5, MinRetriesPerSecond: -1}}, 1)
	u.RecordRequest()
	u.RecordRequest()
	if !u.ShouldRetry([]byte("GET"), 1, Outcome{ConnectFailed: true}) {
		t.Fatal("first retry refused")
	}
	if u.ShouldRetry([]byte("GET"), 1, Outcome{ConnectFailed: true}) {
		t.Fatal("retry beyond 50% of 2 requests allowed")
	}
}

func TestIsIdempotent(t *testing.T) {
	for m, want := range map[string]bool{"GET": true, "HEAD": true, "OPTIONS": true, "TRACE": true, "PUT": true, "DELETE": true, "POST": false, "PATCH": false, "CONNECT": false, "": false} {
		if got := IsIdempotent([]byte(m)); got != want {
			t.Errorf("IsIdempotent(%q) = %v", m, got)
		}
	}
}

func TestTriesClampedToMaxTries(t *testing.T) {
	u, _ := newTestUpstream(t, Config{Retry: RetryConfig{Tries: 100}}, 1)
	if u.MaxTries() != MaxTries {
		t.Fatalf("MaxTries() = %d", u.MaxTries())
	}
}
