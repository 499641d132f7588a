package shm

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// The model test drives a Dict and a plain reference (a map with a list
// tick and a CLOCK bit per entry, TTLs and the documented capacity charge)
// with the same long random operation sequence, and checks that every
// result agrees. The dict reports every entry it drops on its own (CLOCK
// eviction, expiry sweeps) through a test hook; the reference checks each
// one is allowed (an evicted entry must be the first one from the tail of
// its shard's list whose bit is clear, a swept one must be expired) and
// applies the second chances the eviction hand gave on the way. So the
// dict's contents, list order, CLOCK bits and byte accounting are checked
// exactly, not just "something sensible happened".

type refEntry struct {
	v       Value // Bytes owned by the reference
	expires int64
	lru     uint64 // list position: larger = more recently written or passed over
	ref     bool   // CLOCK bit: read (Get, Incr) since the hand last passed
	block   int64  // arena block size charged for the entry
}

type refModel struct {
	tb      testing.TB
	d       *Dict
	clock   *fakeClock
	entries map[string]*refEntry
	tick    uint64
	current string // key of the operation in progress
	dropped int    // hook calls during the current operation
}

func newRefModel(tb testing.TB, capacity int64, shards int) *refModel {
	m := &refModel{tb: tb, clock: newFakeClock(), entries: make(map[string]*refEntry)}
	m.d = mustNew(tb, capacity, WithShards(shards), WithClock(m.clock.Now))
	setRemoveHook(m.d, m.onRemove)
	return m
}

func (m *refModel) shardOf(key string) int {
	s, _ := m.d.shardFor([]byte(key))
	for i := range m.d.shards {
		if &m.d.shards[i] == s {
			return i
		}
	}
	panic("no shard")
}

func (m *refModel) expired(e *refEntry) bool {
	return e.expires != 0 && (e.expires < 0 || e.expires <= m.clock.Now())
}

func (m *refModel) live(key string) (*refEntry, bool) {
	e, ok := m.entries[key]
	return e, ok && !m.expired(e)
}

// touch mirrors a write (or a second chance): head of the list, bit clear.
func (m *refModel) touch(e *refEntry) {
	m.tick++
	e.lru = m.tick
	e.ref = false
}

// use mirrors a read: the CLOCK bit is set, the list does not move.
func (m *refModel) use(e *refEntry) { e.ref = true }

func (m *refModel) onRemove(key []byte, why removeReason) {
	k := string(key)
	e, ok := m.entries[k]
	if !ok {
		m.tb.Fatalf("dict dropped %q (reason %d) that the reference does not hold", k, why)
	}
	switch why {
	case removedExpired:
		if !m.expired(e) {
			m.tb.Fatalf("dict swept %q as expired, but it expires at %d, now %d", k, e.expires, m.clock.Now())
		}
	case removedEvicted:
		// The hand starts at the tail (lowest lru): every entry it passes has
		// its bit set, loses it and goes to the head, in tail-first order; the
		// victim is the first with a clear bit, or the old tail once a whole
		// turn cleared every bit.
		shard := m.shardOf(k)
		var passed []*refEntry
		allSet := true
		for other, o := range m.entries {
			if other == k || other == m.current || m.shardOf(other) != shard {
				continue
			}
			allSet = allSet && o.ref
			if o.lru < e.lru {
				if !o.ref {
					m.tb.Fatalf("dict evicted %q (lru %d) before %q (lru %d), older with a clear bit", k, e.lru, other, o.lru)
				}
				passed = append(passed, o)
			}
		}
		if e.ref {
			if !allSet || len(passed) != 0 {
				m.tb.Fatalf("dict evicted %q (lru %d), whose bit was set, while another entry of its shard had a clear bit", k, e.lru)
			}
			for other, o := range m.entries {
				if other != k && other != m.current && m.shardOf(other) == shard {
					passed = append(passed, o)
				}
			}
		}
		slices.SortFunc(passed, func(a, b *refEntry) int { return cmp.Compare(a.lru, b.lru) })
		for _, o := range passed {
			m.touch(o)
		}
	default:
		m.tb.Fatalf("unknown remove reason %d", why)
	}
	m.dropped++
	delete(m.entries, k)
}

func (m *refModel) shardUsed(shard int) int64 {
	var used int64
	for k, e := range m.entries {
		if m.shardOf(k) == shard {
			used += e.block + entryOverhead
		}
	}
	return used
}

func (m *refModel) expectErr(op string, got, want error) {
	if !errors.Is(got, want) || (want == nil && got != nil) {
		m.tb.Fatalf("%s %q: error %v, want %v", op, m.current, got, want)
	}
}

// store mirrors Set, SafeSet, Add, SafeAdd and Replace.
func (m *refModel) store(key string, v Value, ttl time.Duration, op storeOp, safe bool) {
	k := []byte(key)
	old, exists := m.entries[key]
	live := exists && !m.expired(old)
	var want error
	inPlace := false
	switch {
	case op == opAdd && live:
		want = ErrExists
	case op == opReplace && !live:
		want = ErrNotFound
	case exists && v.payload() <= int(old.block)-blockHeader-len(key):
		inPlace = true
	}
	var got error
	switch {
	case op == opSet && !safe:
		got = m.d.Set(k, v, ttl)
	case op == opSet:
		got = m.d.SafeSet(k, v, ttl)
	case op == opAdd && !safe:
		got = m.d.Add(k, v, ttl)
	case op == opAdd:
		got = m.d.SafeAdd(k, v, ttl)
	default:
		got = m.d.Replace(k, v, ttl)
	}
	name := fmt.Sprintf("store(op %d, safe %v, %v, ttl %v)", op, safe, v, ttl)
	if want != nil || inPlace {
		if m.dropped != 0 {
			m.tb.Fatalf("%s %q dropped %d entries without needing space", name, key, m.dropped)
		}
		m.expectErr(name, got, want)
		if inPlace {
			old.v = cloneValue(v)
			old.expires = m.expiry(ttl)
			m.touch(old)
		}
		return
	}
	block := blockSize(len(key), v.payload())
	shard := m.shardOf(key)
	capacity := m.d.shards[shard].capacity
	switch {
	case block+entryOverhead > capacity:
		want = ErrValueTooLarge
	case safe:
		used := m.shardUsed(shard) + block + entryOverhead
		if exists {
			used -= old.block + entryOverhead
		}
		if used > capacity {
			want = ErrNoMemory
		}
	}
	m.expectErr(name, got, want)
	if want != nil {
		return
	}
	e := &refEntry{v: cloneValue(v), expires: m.expiry(ttl), block: block}
	m.touch(e)
	m.entries[key] = e
}

func (m *refModel) expiry(ttl time.Duration) int64 {
	if ttl == 0 {
		return 0
	}
	return m.clock.Now() + int64(ttl)
}

func cloneValue(v Value) Value {
	if v.Kind == KindBytes {
		v.Bytes = slices.Clone(v.Bytes)
		if v.Bytes == nil {
			v.Bytes = []byte{}
		}
	} else {
		v.Bytes = nil
	}
	return v
}

func (m *refModel) get(key string, stale bool) {
	dst := []byte("prefix:")
	var v Value
	var isStale, ok bool
	if stale {
		v, isStale, ok = m.d.GetStale([]byte(key), dst)
	} else {
		v, ok = m.d.Get([]byte(key), dst)
	}
	e, exists := m.entries[key]
	wantOK := exists && (stale || !m.expired(e))
	if ok != wantOK {
		m.tb.Fatalf("get(stale %v) %q: ok %v, want %v", stale, key, ok, wantOK)
	}
	if !ok {
		if string(v.Bytes) != "prefix:" {
			m.tb.Fatalf("get %q miss changed dst to %q", key, v.Bytes)
		}
		return
	}
	if isStale != m.expired(e) {
		m.tb.Fatalf("get %q: stale %v, want %v", key, isStale, m.expired(e))
	}
	if !strings.HasPrefix(string(v.Bytes), "prefix:") {
		m.tb.Fatalf("get %q: dst prefix lost: %q", key, v.Bytes)
	}
	if v.Kind == KindBytes {
		v.Bytes = v.Bytes[len("prefix:"):]
	}
	if !v.Equal(e.v) {
		m.tb.Fatalf("get %q: %v, want %v", key, v, e.v)
	}
	if !m.expired(e) {
		m.use(e)
	}
}

func (m *refModel) incr(key string, delta, init int64, hasInit bool, ttl time.Duration) {
	var got int64
	var err error
	if hasInit {
		got, err = m.d.Incr([]byte(key), delta, init, ttl)
	} else {
		got, err = m.d.IncrExisting([]byte(key), delta)
	}
	name := fmt.Sprintf("incr(%d, init %d/%v, ttl %v)", delta, init, hasInit, ttl)
	if e, live := m.live(key); live {
		if m.dropped != 0 {
			m.tb.Fatalf("%s dropped entries on a live counter", name)
		}
		switch e.v.Kind {
		case KindInt:
		case KindFloat:
			m.expectErr(name, err, ErrNotAnInteger)
			return
		default:
			m.expectErr(name, err, ErrNotANumber)
			return
		}
		n, ok := addInt64(e.v.Int, delta)
		if !ok {
			m.expectErr(name, err, ErrOverflow)
			return
		}
		m.expectErr(name, err, nil)
		if got != n {
			m.tb.Fatalf("%s %q = %d, want %d", name, key, got, n)
		}
		e.v.Int = n
		m.use(e)
		return
	}
	if !hasInit {
		m.expectErr(name, err, ErrNotFound)
		return
	}
	n, ok := addInt64(init, delta)
	if !ok {
		m.expectErr(name, err, ErrOverflow)
		return
	}
	m.expectErr(name, err, nil)
	if got != n {
		m.tb.Fatalf("%s %q = %d, want %d", name, key, got, n)
	}
	m.initNumber(key, IntValue(n), ttl)
}

func (m *refModel) incrFloat(key string, delta, init float64, ttl time.Duration) {
	got, err := m.d.IncrFloat([]byte(key), delta, init, ttl)
	name := fmt.Sprintf("incrFloat(%g, init %g, ttl %v)", delta, init, ttl)
	var want float64
	if e, live := m.live(key); live {
		switch e.v.Kind {
		case KindInt:
			want = float64(e.v.Int) + delta
		case KindFloat:
			want = e.v.Float + delta
		default:
			m.expectErr(name, err, ErrNotANumber)
			return
		}
		m.expectErr(name, err, nil)
		e.v = FloatValue(want).WithFlags(e.v.Flags)
		m.touch(e)
	} else {
		want = init + delta
		m.expectErr(name, err, nil)
		m.initNumber(key, FloatValue(want), ttl)
	}
	if math.Float64bits(got) != math.Float64bits(want) {
		m.tb.Fatalf("%s %q = %g, want %g", name, key, got, want)
	}
}

// initNumber mirrors a counter created by Incr: an expired entry is reused
// in place (keeping its block), a missing one gets a new block.
func (m *refModel) initNumber(key string, v Value, ttl time.Duration) {
	if e, ok := m.entries[key]; ok {
		e.v = v
		e.expires = m.expiry(ttl)
		m.touch(e)
		return
	}
	e := &refEntry{v: v, expires: m.expiry(ttl), block: blockSize(len(key), 0)}
	m.touch(e)
	m.entries[key] = e
}

func (m *refModel) ttl(key string) {
	got, err := m.d.TTL([]byte(key))
	e, live := m.live(key)
	if !live {
		m.expectErr("ttl", err, ErrNotFound)
		return
	}
	m.expectErr("ttl", err, nil)
	want := time.Duration(0)
	if e.expires != 0 {
		want = time.Duration(e.expires - m.clock.Now())
	}
	if got != want {
		m.tb.Fatalf("ttl %q = %v, want %v", key, got, want)
	}
}

func (m *refModel) expire(key string, ttl time.Duration) {
	err := m.d.Expire([]byte(key), ttl)
	e, live := m.live(key)
	if !live {
		m.expectErr("expire", err, ErrNotFound)
		return
	}
	m.expectErr("expire", err, nil)
	e.expires = m.expiry(ttl)
}

func (m *refModel) delete(key string) {
	got := m.d.Delete([]byte(key))
	_, live := m.live(key)
	if got != live {
		m.tb.Fatalf("delete %q = %v, want %v", key, got, live)
	}
	delete(m.entries, key)
}

func (m *refModel) flushAll() {
	m.d.FlushAll()
	for _, e := range m.entries {
		e.expires = flushedExpiry
	}
}

func (m *refModel) flushExpired(max int) {
	n := m.d.FlushExpired(max)
	if n != m.dropped {
		m.tb.Fatalf("FlushExpired(%d) = %d, hook saw %d", max, n, m.dropped)
	}
	if max > 0 && n > max {
		m.tb.Fatalf("FlushExpired(%d) removed %d", max, n)
	}
	if max <= 0 || n < max {
		for k, e := range m.entries {
			if m.expired(e) {
				m.tb.Fatalf("FlushExpired(%d) = %d left expired %q", max, n, k)
			}
		}
	}
}

func (m *refModel) keys() {
	got := m.d.Keys(0)
	var want []string
	for k, e := range m.entries {
		if !m.expired(e) {
			want = append(want, k)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		m.tb.Fatalf("Keys = %q, want %q", got, want)
	}
}

// checkAll compares every entry and every shard's accounting.
func (m *refModel) checkAll() {
	checkInvariants(m.tb, m.d)
	if m.d.Len() != len(m.entries) {
		m.tb.Fatalf("Len = %d, reference holds %d", m.d.Len(), len(m.entries))
	}
	for i := range m.d.shards {
		if got, want := m.d.shards[i].used(), m.shardUsed(i); got != want {
			m.tb.Fatalf("shard %d used %d, reference %d", i, got, want)
		}
	}
	for k, e := range m.entries {
		v, expires, ok := peek(m.d, []byte(k))
		if !ok || !v.Equal(e.v) || expires != e.expires {
			m.tb.Fatalf("%q: dict %v expires %d (present %v), reference %v expires %d", k, v, expires, ok, e.v, e.expires)
		}
		if got := clockBit(m.d, []byte(k)); got != e.ref {
			m.tb.Fatalf("%q: CLOCK bit %v, reference %v", k, got, e.ref)
		}
	}
	// Per-shard list order must match the reference ticks.
	for i := range m.d.shards {
		order := lruOrder(m.d, i)
		for j := 1; j < len(order); j++ {
			if m.entries[order[j-1]].lru < m.entries[order[j]].lru {
				m.tb.Fatalf("shard %d list order %q disagrees with the reference", i, order)
			}
		}
	}
}

// opReader turns fuzz bytes into operation parameters; it reads zeros once
// the input is exhausted.
type opReader struct {
	data []byte
	pos  int
}

func (r *opReader) more() bool { return r.pos < len(r.data) }

func (r *opReader) byte() byte {
	if r.pos >= len(r.data) {
		return 0
	}
	b := r.data[r.pos]
	r.pos++
	return b
}

var modelKeys = func() []string {
	keys := make([]string, 40)
	for i := range keys {
		keys[i] = strings.Repeat("x", i%6*7) + fmt.Sprintf("k%d", i)
	}
	return keys
}()

func (r *opReader) value() Value {
	b := r.byte()
	var v Value
	switch b % 5 {
	case 0, 1:
		n := int(r.byte())
		switch {
		case n > 250:
			n = 5000 // never fits a model shard
		case n > 230:
			n = 900
		}
		v = BytesValue([]byte(strings.Repeat(string(rune('a'+n%26)), n)))
	case 2:
		v = IntValue(int64(int8(r.byte())))
		if b > 240 {
			v.Int = math.MaxInt64 - int64(r.byte()%3)
		}
	case 3:
		v = FloatValue(float64(int8(r.byte())) / 4)
	case 4:
		v = BoolValue(r.byte()%2 == 1)
	}
	return v.WithFlags(uint32(b >> 5))
}

func (r *opReader) ttl() time.Duration {
	b := r.byte()
	if b%3 == 0 {
		return 0
	}
	return time.Duration(b%40+1) * time.Millisecond
}

// runModel runs one operation sequence against a fresh dict and reference.
func runModel(tb testing.TB, data []byte) {
	r := &opReader{data: data}
	cfg := r.byte()
	capacity := []int64{1500, 2600, 6000, 20000}[cfg%4]
	shards := []int{1, 2, 4}[int(cfg/4)%3]
	m := newRefModel(tb, capacity, shards)
	for step := 0; r.more(); step++ {
		key := modelKeys[int(r.byte())%len(modelKeys)]
		m.current, m.dropped = key, 0
		switch op := r.byte() % 20; op {
		case 0, 1, 2:
			m.get(key, false)
		case 3:
			m.get(key, true)
		case 4, 5:
			m.store(key, r.value(), r.ttl(), opSet, false)
		case 6:
			m.store(key, r.value(), r.ttl(), opSet, true)
		case 7:
			m.store(key, r.value(), r.ttl(), opAdd, false)
		case 8:
			m.store(key, r.value(), r.ttl(), opAdd, true)
		case 9:
			m.store(key, r.value(), r.ttl(), opReplace, false)
		case 10:
			m.delete(key)
		case 11, 12:
			delta := int64(int8(r.byte()))
			if delta == 127 {
				delta = math.MaxInt64
			}
			m.incr(key, delta, int64(int8(r.byte())), true, r.ttl())
		case 13:
			m.incr(key, int64(int8(r.byte())), 0, false, 0)
		case 14:
			m.incrFloat(key, float64(int8(r.byte()))/2, 0.25, r.ttl())
		case 15:
			m.ttl(key)
		case 16:
			m.expire(key, r.ttl())
		case 17:
			switch b := r.byte(); {
			case b < 8:
				m.flushAll()
			case b < 128:
				m.flushExpired(int(b % 4))
			default:
				m.keys()
			}
		default:
			m.clock.Advance(time.Duration(r.byte()%16) * time.Millisecond)
		}
		m.current = ""
		if step%32 == 0 || !r.more() {
			m.checkAll()
		}
	}
	if tl, ok := tb.(*testing.T); ok && testing.Verbose() {
		st := m.d.Stats()
		tl.Logf("capacity %d shards %d: %d entries, %d used, %d evictions, %d expired removed", capacity, shards, st.Entries, st.Used, st.Evictions, st.Expired)
	}
}

// TestModelRandom runs long pseudo-random sequences with fixed seeds, so a
// plain `go test` covers what the fuzzer would find first.
func TestModelRandom(t *testing.T) {
	for seed := range uint64(12) {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 0x5eed))
			data := make([]byte, 60_000)
			for i := range data {
				data[i] = byte(rng.Uint32())
			}
			data[0] = byte(seed)
			runModel(t, data)
		})
	}
}

func FuzzModel(f *testing.F) {
	f.Add([]byte{0, 1, 4, 0, 5, 0, 1, 0, 1, 11, 3, 4, 1})
	f.Add([]byte{5, 3, 4, 1, 200, 3, 4, 4, 0, 240, 3, 6, 4, 0, 240, 9, 19, 9, 3, 1, 7, 0})
	f.Add([]byte{2, 7, 17, 1, 7, 11, 5, 2, 3, 19, 40, 7, 17, 100, 7, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4096 {
			data = data[:4096]
		}
		runModel(t, data)
	})
}
