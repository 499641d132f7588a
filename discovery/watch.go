package discovery

import (
	"context"
	"math/rand/v2"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/sluice-gw/sluice/config"
)

// sourceKey names one watch: a KV prefix, or a service with its tag and
// filter. Upstreams naming the same key share the watch.
type sourceKey struct {
	typ, key, service, tag, filter string
}

func keyOf(d *config.Discovery) sourceKey {
	if d.Type == config.DiscoveryConsulKV {
		return sourceKey{typ: d.Type, key: d.Key}
	}
	return sourceKey{typ: d.Type, service: d.Service, tag: d.Tag, filter: d.Filter}
}

// String is the source's name in logs, the status and the dump:
// "consul_kv:upstreams/test", "consul:users?tag=v2".
func (k sourceKey) String() string {
	if k.typ == config.DiscoveryConsulKV {
		return k.typ + ":" + k.key
	}
	q := url.Values{}
	if k.tag != "" {
		q.Set("tag", k.tag)
	}
	if k.filter != "" {
		q.Set("filter", k.filter)
	}
	if len(q) == 0 {
		return k.typ + ":" + k.service
	}
	return k.typ + ":" + k.service + "?" + q.Encode()
}

// Source states in SourceStatus.State.
const (
	StateStarting = "starting" // no answer yet, no dump
	StateDump     = "dump"     // serving the dump: Consul has not answered since the start
	StateOK       = "ok"       // the last query succeeded; targets are current
	StateFailing  = "failing"  // the last query failed; the last known good targets stay
)

// Retry backoff while Consul fails: from backoffMin, doubling, up to
// consul.retry_max, each delay drawn in [d/2, d) (jitter, so a fleet that
// lost Consul at once does not come back in step).
const backoffMin = 100 * time.Millisecond

// watch runs the blocking queries of one source on its own goroutine.
type watch struct {
	m      *Manager
	key    sourceKey
	client *api.Client
	wait   time.Duration
	limit  *tokenBucket
	retry  time.Duration
	// dumpDir is consul.dump_dir; "" for no dump.
	dumpDir string

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	// answered is closed at the first success; tried at the first outcome.
	answered, tried         chan struct{}
	answeredOnce, triedOnce sync.Once

	requests, failures, changes, badTotal atomic.Uint64

	mu          sync.Mutex // guards what follows
	state       string
	have        bool // targets hold an answer or the dump
	targets     []Target
	index       uint64
	fromDump    bool
	started     time.Time
	lastSuccess time.Time
	lastChange  time.Time
	lastErr     string
	lastErrAt   time.Time
	failsInRow  int
	bad         []string // the skipped entries of the last answer
}

func newWatch(m *Manager, key sourceKey, client *api.Client, c *config.Consul) *watch {
	w := &watch{
		m: m, key: key, client: client,
		wait:     time.Duration(c.Wait),
		limit:    newTokenBucket(float64(c.RateLimit), c.RateLimit),
		retry:    time.Duration(c.RetryMax),
		dumpDir:  c.DumpDir,
		done:     make(chan struct{}),
		answered: make(chan struct{}),
		tried:    make(chan struct{}),
		state:    StateStarting,
		started:  time.Now(),
	}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	return w
}

func (w *watch) stop() {
	w.cancel()
	<-w.done
}

// run is the watch's loop: a blocking query per turn, each turn paid for
// with a token, failures backing off.
func (w *watch) run() {
	defer close(w.done)
	var index uint64
	fails := 0
	for {
		if w.limit.wait(w.ctx) != nil {
			return
		}
		targets, bad, next, err := w.fetch(index)
		if w.ctx.Err() != nil {
			return
		}
		w.requests.Add(1)
		if err != nil {
			fails++
			// The agent may come back restarted, or another server may
			// answer, with a smaller index: blocking on the old one would
			// wait a whole wait for nothing. The next query re-reads the
			// current state at once (after the backoff).
			index = 0
			w.failed(err, fails)
			if sleep(w.ctx, backoff(fails, w.retry)) != nil {
				return
			}
			continue
		}
		fails = 0
		index = NextIndex(index, next)
		w.succeeded(targets, bad, next)
	}
}

// NextIndex is the index of the next blocking query after one that asked
// with index and answered next. Consul's rules: an index that goes
// backwards (a KV tombstone reaped, a snapshot restored) is reset to 0, so
// the next query answers at once with the current state; otherwise never
// block on 0 after the first answer.
func NextIndex(index, next uint64) uint64 {
	switch {
	case next < index:
		return 0
	case next == 0:
		return 1
	}
	return next
}

// fetch runs one query; a query blocks up to wait (Consul adds up to
// wait/16 of jitter), so the call is bounded a little beyond that.
func (w *watch) fetch(index uint64) ([]Target, []error, uint64, error) {
	ctx, cancel := context.WithTimeout(w.ctx, w.wait+w.wait/16+10*time.Second)
	defer cancel()
	q := (&api.QueryOptions{WaitIndex: index, WaitTime: w.wait}).WithContext(ctx)
	switch w.key.typ {
	case config.DiscoveryConsulKV:
		pairs, meta, err := w.client.KV().List(w.key.key+"/", q)
		if err != nil {
			return nil, nil, 0, err
		}
		ts, bad := fromKV(w.key.key, pairs)
		return ts, bad, meta.LastIndex, nil
	default:
		q.Filter = w.key.filter
		var tags []string
		if w.key.tag != "" {
			tags = []string{w.key.tag}
		}
		entries, meta, err := w.client.Health().ServiceMultipleTags(w.key.service, tags, true, q)
		if err != nil {
			return nil, nil, 0, err
		}
		ts, bad := fromCatalog(entries)
		return ts, bad, meta.LastIndex, nil
	}
}

func (w *watch) failed(err error, fails int) {
	w.failures.Add(1)
	w.mu.Lock()
	w.lastErr, w.lastErrAt, w.failsInRow = err.Error(), time.Now(), fails
	if w.state != StateDump && w.state != StateStarting {
		w.state = StateFailing
	}
	w.mu.Unlock()
	// Log the first failure and then at each power of two, not every retry.
	if fails&(fails-1) == 0 {
		w.m.logf("discovery: %s: %v (failure %d in a row; the last known targets stay)", w.key, err, fails)
	}
	w.triedOnce.Do(func() { close(w.tried) })
}

func (w *watch) succeeded(targets []Target, bad []error, index uint64) {
	badStrs := make([]string, len(bad))
	for i, e := range bad {
		badStrs[i] = e.Error()
	}
	now := time.Now()
	w.mu.Lock()
	recovered := w.failsInRow > 0
	w.failsInRow, w.state, w.lastSuccess, w.index = 0, StateOK, now, index
	changed := !w.have || w.fromDump || !slices.Equal(w.targets, targets)
	badChanged := !slices.Equal(w.bad, badStrs)
	if changed {
		w.targets, w.have, w.fromDump, w.lastChange = targets, true, false, now
	}
	w.bad = badStrs
	w.mu.Unlock()
	if recovered {
		w.m.logf("discovery: %s: Consul answers again", w.key)
	}
	if badChanged {
		w.badTotal.Add(uint64(len(bad)))
		for _, e := range bad {
			w.m.logf("discovery: %s: skipped: %v", w.key, e)
		}
	}
	if changed {
		w.changes.Add(1)
		// An answer with nothing usable is not last known good: the dump
		// keeps the previous one, as the upstreams do (unless allow_empty,
		// which empties a running upstream but not its dump).
		if usable(targetSpecs(targets, "")) {
			w.writeDump(targets, index)
		}
		w.m.sourceChanged(w)
	}
	w.answeredOnce.Do(func() { close(w.answered) })
	w.triedOnce.Do(func() { close(w.tried) })
}

// useDump gives the watch the dumped targets while Consul has not answered.
func (w *watch) useDump(targets []Target, index uint64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.have {
		return false // Consul answered meanwhile
	}
	w.targets, w.have, w.fromDump, w.index, w.state = targets, true, true, index, StateDump
	return true
}

// current returns the watch's targets (shared: do not modify) and whether
// it has any answer or dump.
func (w *watch) current() ([]Target, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.targets, w.have
}

func (w *watch) status(now time.Time) SourceStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := SourceStatus{
		Source: w.key.String(), Type: w.key.typ, Key: w.key.key,
		Service: w.key.service, Tag: w.key.tag, Filter: w.key.filter,
		State: w.state, Index: w.index, FromDump: w.fromDump,
		LastSuccess: w.lastSuccess, LastChange: w.lastChange,
		LastError: w.lastErr, LastErrorAt: w.lastErrAt, ConsecutiveFailures: w.failsInRow,
		Requests: w.requests.Load(), Failures: w.failures.Load(), Changes: w.changes.Load(),
		BadValues: len(w.bad), BadValuesTotal: w.badTotal.Load(),
		Skipped: append([]string(nil), w.bad...),
		Targets: append([]Target(nil), w.targets...),
	}
	if w.state != StateOK {
		since := w.lastSuccess
		if since.IsZero() {
			since = w.started
		}
		st.StalenessSeconds = now.Sub(since).Seconds()
	}
	return st
}

// backoff is the delay after the n-th failure in a row.
func backoff(n int, max time.Duration) time.Duration {
	d := backoffMin
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// tokenBucket limits a loop to rate turns per second with a burst. It is
// used by one goroutine: not safe for concurrent use.
type tokenBucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func newTokenBucket(rate float64, burst int) *tokenBucket {
	return &tokenBucket{rate: rate, burst: float64(burst), tokens: float64(burst), last: time.Now()}
}

// wait takes a token, waiting for one if the bucket is empty.
func (b *tokenBucket) wait(ctx context.Context) error {
	now := time.Now()
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return nil
	}
	d := time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
	if err := sleep(ctx, d); err != nil {
		return err
	}
	b.tokens, b.last = 0, time.Now()
	return nil
}
