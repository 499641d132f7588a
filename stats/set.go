package stats

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
)

// Set describes a gateway's metrics and owns their per-worker storage.
//
// Build it once at startup: NewSet, then register every metric (Counter,
// Gauge, Histogram, DurationHistogram, CounterVec) from one goroutine. The
// first call to Shard, Snapshot, a read or a Set-level write closes
// registration and lays the shards out; registering afterwards panics.
// Registration panics on a malformed or duplicate metric too: these are
// programming errors found at startup, as with Prometheus' MustRegister.
//
// After registration every method is safe for concurrent use. Shard hands
// out the single-writer blocks the workers write; the Set's own Add,
// AddGauge, Observe and AddIndexed are for goroutines that are not workers.
// A Set must not be copied.
type Set struct {
	_       noCopy
	workers int

	// Layout, written only during registration, read-only after seal.
	descs  []Desc
	slots  int // scalar slots per shard: dropped + counters + gauges + histogram words
	hists  []histLayout
	vecs   []*vecDesc
	series map[string]Kind // name+labels -> kind, to refuse duplicates
	kinds  map[string]Kind // name -> kind, so one name has one type

	seal   sync.Once
	mu     sync.Mutex // serializes GrowVec with itself and with seal
	shards []*Shard   // workers, then the shared shard; set once by seal
}

// Kind says what a Desc describes.
type Kind uint8

const (
	KindCounter    Kind = iota + 1 // a monotonic uint64; ID is a CounterID
	KindGauge                      // an int64 that goes up and down; ID is a GaugeID
	KindHistogram                  // bucket counts, sum, count; ID is a HistogramID
	KindCounterVec                 // counters indexed 0..n-1; ID is a VecID
)

// Desc describes one registered metric, for an exporter (the /metrics
// collector) to name what it reads from a Snapshot. Its slices belong to the
// Set and must not be modified.
type Desc struct {
	Name string
	Help string
	Kind Kind
	// Labels holds constant label pairs: name, value, name, value...
	Labels []string
	// VecLabel names the label a CounterVec's index stands for ("route").
	VecLabel string
	// VecValues are label values given at registration, for indexes
	// 0..len-1; the caller names the indexes it adds with GrowVec.
	VecValues []string
	// Bounds are a histogram's upper bounds (Prometheus "le"), increasing;
	// seconds for a DurationHistogram. The +Inf bucket is implicit.
	Bounds []float64
	// Duration is true for a DurationHistogram.
	Duration bool
	// ID is the metric's ID as an int: convert it with the type Kind names,
	// e.g. CounterID(d.ID).
	ID int
}

// CounterID names a counter registered with Set.Counter.
type CounterID int32

// GaugeID names a gauge registered with Set.Gauge.
type GaugeID int32

// NewSet returns an empty Set for the given number of workers (event loops),
// each of which will take its own Shard.
func NewSet(workers int) *Set {
	if workers < 1 {
		panic(fmt.Sprintf("stats: NewSet(%d): need at least one worker", workers))
	}
	return &Set{
		workers: workers,
		slots:   1, // slot 0 counts writes dropped for an index out of range
		series:  make(map[string]Kind),
		kinds:   make(map[string]Kind),
	}
}

// Workers returns the number of worker shards.
func (s *Set) Workers() int { return s.workers }

// Counter registers a monotonic counter. labels are constant label pairs
// (name, value, ...): a status class, say, registers one counter per value
// under the same name.
func (s *Set) Counter(name, help string, labels ...string) CounterID {
	id := s.register(Desc{Name: name, Help: help, Kind: KindCounter, Labels: labels, ID: s.slots})
	s.slots++
	return CounterID(id)
}

// Gauge registers a gauge, like "connections open now": workers add signed
// deltas to their own shard and a read sums them.
func (s *Set) Gauge(name, help string, labels ...string) GaugeID {
	id := s.register(Desc{Name: name, Help: help, Kind: KindGauge, Labels: labels, ID: s.slots})
	s.slots++
	return GaugeID(id)
}

// Descs returns every registered metric in registration order. The slice
// belongs to the Set: read it, do not modify it.
func (s *Set) Descs() []Desc {
	s.sealOnce()
	return s.descs
}

// Shard returns worker's own block, allocated when registration closes.
// Only that worker's goroutine may call the Shard's write methods.
func (s *Set) Shard(worker int) *Shard {
	s.sealOnce()
	if worker < 0 || worker >= s.workers {
		panic(fmt.Sprintf("stats: Shard(%d) of a set with %d workers", worker, s.workers))
	}
	return s.shards[worker]
}

// register validates d, records it and returns d.ID.
func (s *Set) register(d Desc) int {
	if s.shards != nil {
		panic(fmt.Sprintf("stats: %s registered after the set's shards were made", d.Name))
	}
	if !ValidName(d.Name, true) {
		panic(fmt.Sprintf("stats: invalid metric name %q", d.Name))
	}
	if len(d.Labels)%2 != 0 {
		panic(fmt.Sprintf("stats: %s: labels must be name, value pairs", d.Name))
	}
	for i := 0; i < len(d.Labels); i += 2 {
		if !ValidName(d.Labels[i], false) || d.Labels[i] == d.VecLabel {
			panic(fmt.Sprintf("stats: %s: invalid label name %q", d.Name, d.Labels[i]))
		}
	}
	if k, ok := s.kinds[d.Name]; ok && k != d.Kind {
		panic(fmt.Sprintf("stats: %s registered as two kinds", d.Name))
	}
	key := d.Name + "\xff" + strings.Join(d.Labels, "\xff")
	if _, ok := s.series[key]; ok {
		panic(fmt.Sprintf("stats: %s%v registered twice", d.Name, d.Labels))
	}
	s.series[key] = d.Kind
	s.kinds[d.Name] = d.Kind
	d.Labels = append([]string(nil), d.Labels...)
	s.descs = append(s.descs, d)
	return d.ID
}

// ValidName reports whether name is a Prometheus metric name (metric true:
// colons allowed) or label name.
func ValidName(name string, metric bool) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' ||
			i > 0 && '0' <= c && c <= '9' || metric && c == ':'
		if !ok {
			return false
		}
	}
	return true
}

// sealOnce closes registration and allocates the shards: one per worker and
// a last one, written atomically, for the Set-level writers.
func (s *Set) sealOnce() {
	s.seal.Do(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		shards := make([]*Shard, s.workers+1)
		for i := range shards {
			shards[i] = s.newShard()
		}
		s.shards = shards
	})
}

// newShard allocates one shard's memory. Called with s.mu held.
func (s *Set) newShard() *Shard {
	sh := &Shard{
		slots: paddedSlots(s.slots),
		hists: s.hists,
		vecs:  make([]atomic.Pointer[vecDir], len(s.vecs)),
	}
	for i, v := range s.vecs {
		sh.vecs[i].Store(growDir(nil, int(v.size.Load())))
	}
	return sh
}

// shared returns the shard the Set-level writers update atomically.
func (s *Set) shared() *Shard {
	s.sealOnce()
	return s.shards[s.workers]
}

// noCopy makes go vet's copylocks check flag copies of the types embedding it.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
