package lb

import (
	"sync/atomic"
	"time"
)

// budgetSeconds is the window of the retry budget, in one-second buckets
// (Linkerd and Finagle keep 10 s too).
const budgetSeconds = 10

type budgetBucket struct {
	second   atomic.Int64
	requests atomic.Int64
	retries  atomic.Int64
}

// retryBudget counts requests and retries per second over the last
// budgetSeconds, with atomics only. A bucket is recycled by the first caller
// of a new second; a count racing with the recycling may be lost, which
// makes the budget approximate by a request or two, never unbounded.
type retryBudget struct {
	core    *core
	buckets [budgetSeconds]budgetBucket
}

func (b *retryBudget) init(c *core) {
	b.core = c
	for i := range b.buckets {
		b.buckets[i].second.Store(-1)
	}
}

func (b *retryBudget) bucket(second int64) *budgetBucket {
	bk := &b.buckets[second%budgetSeconds]
	if s := bk.second.Load(); s != second && s < second && bk.second.CompareAndSwap(s, second) {
		bk.requests.Store(0)
		bk.retries.Store(0)
	}
	return bk
}

func (b *retryBudget) second() int64 { return b.core.now() / int64(time.Second) }

// totals sums the buckets of the window that ends at second.
func (b *retryBudget) totals(second int64) (requests, retries int64) {
	for i := range b.buckets {
		bk := &b.buckets[i]
		if s := bk.second.Load(); s > second-budgetSeconds && s <= second {
			requests += bk.requests.Load()
			retries += bk.retries.Load()
		}
	}
	return requests, retries
}

// RecordRequest counts one client request sent to the upstream (not one
// attempt): the denominator of the retry budget. Lock-free, no allocation.
func (u *Upstream) RecordRequest() {
	b := &u.core.budget
	b.bucket(b.second()).requests.Add(1)
}

// AllowRetry reports whether one more retry fits the retry budget: retries
// over the last 10 s stay at most Retry.Budget × requests plus
// Retry.MinRetriesPerSecond × 10. When it does, the retry is counted. With
// the budget turned off it always allows. Lock-free, no allocation.
func (u *Upstream) AllowRetry() bool {
	r := &u.core.cfg.Retry
	b := &u.core.budget
	sec := b.second()
	if r.Budget < 0 {
		b.bucket(sec).retries.Add(1)
		return true
	}
	// Count first, then check, and take it back when over: racing workers
	// may refuse each other for a moment but never overrun the budget.
	bk := b.bucket(sec)
	bk.retries.Add(1)
	requests, retries := b.totals(sec)
	allowance := r.Budget*float64(requests) + float64(r.MinRetriesPerSecond*budgetSeconds)
	if float64(retries) > allowance {
		bk.retries.Add(-1)
		return false
	}
	return true
}

// ShouldRetry decides whether the attempt that ended with o (attempt number
// attempts, 1 for the first) is tried again on another target: attempts
// remain, the method is idempotent or the policy allows any method, the
// failure or status is one the policy retries, and the retry budget has room
// (checked last, since AllowRetry counts the retry). It does not allocate.
func (u *Upstream) ShouldRetry(method []byte, attempts int, o Outcome) bool {
	r := &u.core.cfg.Retry
	if attempts >= r.Tries {
		return false
	}
	if !r.NonIdempotent && !IsIdempotent(method) {
		return false
	}
	if !retriable(r, o) {
		return false
	}
	return u.AllowRetry()
}

func retriable(r *RetryConfig, o Outcome) bool {
	switch {
	case o.ConnectFailed:
		return r.On&RetryOnConnect != 0
	case o.TimedOut:
		return r.On&RetryOnTimeout != 0
	case o.IOError:
		return r.On&RetryOnError != 0
	case o.InvalidHeader:
		return r.On&RetryOnInvalidHeader != 0
	}
	return hasStatus(r.Statuses, o.Status)
}

// MaxTries returns the attempts a request may make, the first included.
func (u *Upstream) MaxTries() int { return u.core.cfg.Retry.Tries }

// PerTryTimeout returns the bound of one attempt, 0 for none.
func (u *Upstream) PerTryTimeout() time.Duration { return u.core.cfg.Retry.PerTryTimeout }

// IsIdempotent reports whether an HTTP method is idempotent by RFC 9110
// section 9.2.2 (GET, HEAD, OPTIONS, TRACE, PUT, DELETE), so a request may
// be sent twice. Methods are case-sensitive. It does not allocate.
func IsIdempotent(method []byte) bool {
	switch string(method) {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	return false
}
