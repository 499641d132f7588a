package discovery

import (
	"context"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/sluice-gw/sluice/config"
)

// What the fleet configuration (package fleet) shares with discovery's
// watches: the same client, the same rules for a loop of blocking queries.

// NewClient returns a Consul API client for the consul section: its
// address, token, datacenter and TLS, with a pooled transport sized for
// long-lived blocking queries.
func NewClient(c *config.Consul) (*api.Client, error) { return newClient(c) }

// Backoff is the delay before retry n (1, 2, ...) while Consul fails: from
// 100 ms, doubling up to max, with jitter.
func Backoff(n int, max time.Duration) time.Duration { return backoff(n, max) }

// Sleep waits d or until ctx ends (its error then).
func Sleep(ctx context.Context, d time.Duration) error { return sleep(ctx, d) }

// Limiter caps a loop of queries at a rate with a burst (a token bucket,
// not a sleep): an index that keeps changing cannot spin it. Used by one
// goroutine; not safe for concurrent use.
type Limiter struct{ b *tokenBucket }

// NewLimiter returns a limiter of rate turns a second, burst at once.
func NewLimiter(rate float64, burst int) *Limiter { return &Limiter{newTokenBucket(rate, burst)} }

// Wait takes a turn, waiting for one if needed.
func (l *Limiter) Wait(ctx context.Context) error { return l.b.wait(ctx) }
