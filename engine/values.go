package engine

import (
	"fmt"
	"sync"
)

// Per-request values shared between policies. A Key is resolved before any
// request runs: shared keys (the consumer, JWT claims, declared
// parameters) are made once in an init function with NewKey; a policy's
// own per-request state takes private keys from the ChainBuilder when it
// is installed on a route (NewPrivateKey, ChainBuilder.PrivateInt). Each
// route's contexts are sized for the keys it can use: no fixed ceiling,
// no map, no allocation per request for numbers or pointers.

// Key names a per-request value of type T. Store pointers (or other
// pointer-shaped values): a non-pointer T is boxed, which allocates.
type Key[T any] struct{ idx int32 }

// IntKey names a per-request int64, stored without boxing.
type IntKey struct{ idx int32 }

var sharedKeys struct {
	mu     sync.Mutex
	names  map[string]bool
	vals   int32
	ints   int32
	frozen bool
}

// NewKey makes a shared key; call it from an init function (package-level
// var). It panics on a duplicate name: two policies would overwrite each
// other's values.
func NewKey[T any](name string) Key[T] {
	return Key[T]{idx: newSharedKey(name, &sharedKeys.vals)}
}

// NewIntKey makes a shared number key; see NewKey.
func NewIntKey(name string) IntKey {
	return IntKey{idx: newSharedKey(name, &sharedKeys.ints)}
}

func newSharedKey(name string, n *int32) int32 {
	k := &sharedKeys
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.names == nil {
		k.names = make(map[string]bool)
	}
	if k.names[name] {
		panic(fmt.Sprintf("engine: per-request key %q made twice", name))
	}
	if k.frozen {
		panic(fmt.Sprintf("engine: per-request key %q made after the first route was compiled: make shared keys in init", name))
	}
	k.names[name] = true
	*n++
	return *n - 1
}

// freezeKeys fixes the number of shared keys, where private keys start;
// the first private key or compile does it.
func freezeKeys() {
	freezeSharedKeys.Do(func() {
		sharedKeys.mu.Lock()
		defer sharedKeys.mu.Unlock()
		sharedKeys.frozen = true
		valsShared, intsShared = sharedKeys.vals, sharedKeys.ints
	})
}

var freezeSharedKeys sync.Once

// NewPrivateKey makes a per-request key for the policy being installed on
// the route b builds: its own state, which no other policy sees.
func NewPrivateKey[T any](b *ChainBuilder) Key[T] {
	freezeKeys()
	b.privateVals++
	return Key[T]{idx: b.privateIndex(b.privateVals)}
}

// PrivateInt makes a per-request number for the policy being installed.
func (b *ChainBuilder) PrivateInt() IntKey {
	freezeKeys()
	b.privateInts++
	return IntKey{idx: b.privateIndex(b.privateInts)}
}

// Private keys count down from -1; a route's contexts hold its shared keys
// first, then its private ones. A consumer's policies are installed once
// and run on every route (consumer.go), so their private keys cannot take
// the places after any one route's: they count down from consumerKeys
// instead, and a request that runs them keeps them after its route's
// (Ctx.consumerVals, Ctx.consumerInts).
const consumerKeys = -1 << 24

func (b *ChainBuilder) privateIndex(n int32) int32 {
	if b.consumer {
		return consumerKeys - n
	}
	return -n
}

func (x *Ctx) valIndex(idx int32) int {
	switch {
	case idx >= 0:
		return int(idx)
	case idx > consumerKeys:
		return int(valsShared) + int(-idx) - 1
	}
	return int(x.consumerVals) + int(consumerKeys-idx) - 1
}

func (x *Ctx) intIndex(idx int32) int {
	switch {
	case idx >= 0:
		return int(idx)
	case idx > consumerKeys:
		return int(intsShared) + int(-idx) - 1
	}
	return int(x.consumerInts) + int(consumerKeys-idx) - 1
}

// valsShared and intsShared are the shared key counts, frozen by the first
// compile or private key (every NewKey runs in init, before that).
var valsShared, intsShared int32

// Get returns the request's value for k, and whether it was set.
func Get[T any](x *Ctx, k Key[T]) (T, bool) {
	i := x.valIndex(k.idx)
	if i < len(x.vals) {
		if v, ok := x.vals[i].(T); ok {
			return v, true
		}
	}
	var zero T
	return zero, false
}

// Set stores the request's value for k; it is cleared when the request ends.
func Set[T any](x *Ctx, k Key[T], v T) {
	i := x.valIndex(k.idx)
	if i >= len(x.vals) {
		x.vals = growTo(x.vals, i+1)
	}
	x.vals[i] = v
}

// Int returns the request's number for k (0 when unset).
func (x *Ctx) Int(k IntKey) int64 {
	i := x.intIndex(k.idx)
	if i < len(x.ints) {
		return x.ints[i]
	}
	return 0
}

// SetInt stores the request's number for k.
func (x *Ctx) SetInt(k IntKey, v int64) {
	i := x.intIndex(k.idx)
	if i >= len(x.ints) {
		x.ints = growTo(x.ints, i+1)
	}
	x.ints[i] = v
}

func growTo[E any](s []E, n int) []E {
	if cap(s) >= n {
		return s[:n]
	}
	t := make([]E, n, n+4)
	copy(t, s)
	return t
}

// sizeValues makes room for the route's keys once routed; a warm context
// does not allocate.
func (x *Ctx) sizeValues(r *Route) {
	x.vals = growTo(x.vals, r.numVals)
	x.ints = growTo(x.ints, r.numInts)
}

// Consumer is who a request is from, as authentication found it (Kong's and
// APISIX's consumer). Auth policies set it; limits, logs, metrics and
// cache keys read it. A Consumer is shared by every request of it: read
// only.
type Consumer struct {
	// Name identifies the consumer (unique in the config).
	Name string
	// ID is an optional external id ("" when none).
	ID string
	// Groups the consumer belongs to (for ACLs).
	Groups []string
	// Meta holds the consumer's metadata, such as company_id.
	Meta map[string]string

	policies *consumerPolicies // its own policies (consumer.go); nil: none
}

var consumerKey = NewKey[*Consumer]("consumer")

// Consumer is the request's consumer, or nil when none was identified.
func (x *Ctx) Consumer() *Consumer {
	c, _ := Get(x, consumerKey)
	return c
}

// SetConsumer records the request's consumer. Called during the request
// phases with a consumer of the request's snapshot (Snapshot.Consumer),
// it also puts the consumer's own policies in the request's chain
// (consumer.go); a Consumer made elsewhere has none.
func (x *Ctx) SetConsumer(c *Consumer) {
	Set(x, consumerKey, c)
	if x.join != nil && x.join.policies != nil || c != nil && c.policies != nil {
		x.joinConsumer(c)
	}
}
