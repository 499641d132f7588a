package engine

import (
	"bytes"
	"math"
	"slices"
	"strconv"
)

// Consumer-scoped policies (Kong's consumer plugins, APISIX's consumer
// plugins): policies under a consumer in the config run for that
// consumer's requests, on every route, once an auth policy has named the
// consumer (Ctx.SetConsumer).
//
// A consumer's policies are built once per config version and installed
// in a chain of their own. When a request's consumer is set during the
// request phases, the request switches from its route's chain to a merge
// of the two, made in the request's own buffers (no allocation once warm,
// nothing cached per route and consumer):
//   - the handlers already run, and the one running, stay where they are;
//   - the rest of the route's handlers and all of the consumer's are
//     merged by priority (the route's first at equal priority), so a
//     consumer handler that would have sorted before the one running runs
//     right after it;
//   - a route or global policy with the same identity (its id, else its
//     name) as one of the consumer's is replaced by it, the way a
//     consumer's limit overrides the route's (tiers) — unless one of its
//     handlers has already run, in which case both run (its later
//     handlers, such as a release in the log phase, must still see the
//     request through).
// Handlers in the phases already passed never run, with one exception: a
// consumer policy's rewrite handlers (request edits) run in the access
// phase, right after the handler that named the consumer.
//
// A second SetConsumer (an anonymous consumer replaced by a later auth
// policy's real one) switches to the new consumer's policies while none of
// the first one's handlers has run; after that it changes the consumer but
// not the chain.

// consumerPolicies is one consumer's compiled policies.
type consumerPolicies struct {
	chain chain
	meta  chainMeta
	ids   []string // the policies' identities, by owner
	// numVals and numInts are the private per-request values of its
	// policies, kept after the route's when it runs.
	numVals, numInts int32
}

// consumerJoin is a request's merged chain, in buffers the context keeps
// across requests; made on the first join of the context's life, so
// contexts that never run a consumer's policies do not carry it.
type consumerJoin struct {
	policies *consumerPolicies // joined; nil: the request runs its route's chain
	merged   chain
	// from says where each merged handler came from: its index in the
	// route's chain, or fromConsumer. nil: the phase is the route's as is.
	from    [numPhases][]int16
	buf     [numPhases][]Handler // backing arrays of merged
	fromBuf [numPhases][]int16
}

// consumers builds the version's consumers and their policies, or keeps
// the last version's when the shared part (which holds them) is unchanged.
func (k *compilation) consumers() error {
	c, cfg, s := k.c, k.cfg, k.s
	if k.incremental {
		s.consumers, s.consumerSet = c.consumers, c.consumerSet
		return nil
	}
	s.consumers = make(map[string]*Consumer, len(cfg.Consumers))
	set := &policySet{}
	k.created = append(k.created, set)
	s.consumerSet = set
	for i := range cfg.Consumers {
		cc := &cfg.Consumers[i]
		con := &Consumer{Name: cc.Name, ID: cc.ID, Groups: cc.Groups, Meta: cc.Metadata}
		s.consumers[cc.Name] = con
		if len(cc.Policies) == 0 {
			continue
		}
		path := "consumers[" + strconv.Itoa(i) + "].policies"
		if len(cc.Policies) > maxChainPolicies {
			return cfg.ErrorAt(path, "a consumer has at most "+strconv.Itoa(maxChainPolicies)+" policies")
		}
		cb := ChainBuilder{consumer: true}
		cp := &consumerPolicies{ids: make([]string, len(cc.Policies))}
		for j, spec := range cc.Policies {
			pol, err := k.build(spec, "consumer:"+cc.Name)
			if err != nil {
				return err
			}
			set.policies = append(set.policies, pol)
			cp.ids[j] = spec.Identity()
			if err := cb.install(pol, k.c.logf); err != nil {
				return cfg.ErrorAt(spec.Path, err.Error())
			}
		}
		cp.chain, cp.meta = cb.buildWithMeta()
		cp.rewriteInAccess()
		cp.numVals, cp.numInts = cb.privateVals, cb.privateInts
		con.policies = cp
	}
	return nil
}

// rewriteInAccess moves the consumer's rewrite handlers (request edits such
// as headers or proxy-rewrite) to the front of its access phase: the
// rewrite phase has passed when authentication names the consumer, so
// they run right after the handler that named it, before the rest of the
// access phase (Kong runs a consumer's request edits in access too).
func (cp *consumerPolicies) rewriteInAccess() {
	rw, rm := cp.chain[PhaseRewrite], cp.meta[PhaseRewrite]
	if len(rw) == 0 {
		return
	}
	hs := append(append(make([]Handler, 0, len(rw)+len(cp.chain[PhaseAccess])), rw...), cp.chain[PhaseAccess]...)
	ms := append(make([]handlerMeta, 0, len(hs)), rm...)
	for i := range ms {
		ms[i].prio = math.MaxInt32
	}
	ms = append(ms, cp.meta[PhaseAccess]...)
	cp.chain[PhaseAccess], cp.meta[PhaseAccess] = hs, ms
	cp.chain[PhaseRewrite], cp.meta[PhaseRewrite] = nil, nil
}

// Consumer returns the consumer called name in this version, or nil. Auth
// policies hand these to Ctx.SetConsumer: the consumer's own policies
// come with it.
func (s *Snapshot) Consumer(name string) *Consumer { return s.consumers[name] }

// joinConsumer switches the request to its route's chain merged with c's
// policies (or back to the route's alone, when c has none and the last
// consumer's policies have not run). Called by SetConsumer.
func (x *Ctx) joinConsumer(c *Consumer) {
	if x.route == nil || x.chain == nil || x.filtering || x.phase > PhaseContent || x.stage != stageRequest && x.stage != stageSuspended {
		return
	}
	var cp *consumerPolicies
	if c != nil {
		cp = c.policies
	}
	j := x.join
	joined := j != nil && j.policies != nil
	if !joined && cp == nil || joined && cp == j.policies {
		return
	}
	r := x.route
	// at: the place in the route's own chain of the phase after the
	// handler running now.
	at := x.next
	if joined {
		if j.consumerHandlersRan(x.phase, x.next) {
			return
		}
		at = j.routeIndex(x.phase, x.next)
	}
	if cp == nil {
		x.chain, j.policies = &r.chain, nil
		x.next = at
		return
	}
	if j == nil {
		j = new(consumerJoin)
		x.join = j
	}
	skip := overrides(r, x.snap.globals.ids, cp, x.phase, at)
	for p := PhaseRewrite; p < numPhases; p++ {
		if p < x.phase {
			j.merged[p], j.from[p] = r.chain[p], nil // passed: never runs again
			continue
		}
		start := 0
		if p == x.phase {
			start = at
		}
		j.mergePhase(p, start, r, cp, skip)
	}
	x.chain, j.policies = &j.merged, cp
	x.next = at
	x.consumerVals, x.consumerInts = int32(r.numVals), int32(r.numInts)
	x.vals = growTo(x.vals, r.numVals+int(cp.numVals))
	x.ints = growTo(x.ints, r.numInts+int(cp.numInts))
}

// overrides is the set of the route chain's policies that cp's replace:
// same identity, and none of their handlers ran before the place at of
// phase p. The chain's policies are the globals (whose identities are
// globals: a route is kept across versions only while they are the same),
// then the route's own, in install order.
func overrides(r *Route, globals []string, cp *consumerPolicies, p Phase, at int) uint64 {
	var own []string
	if r.own != nil {
		own = r.own.ids
	}
	var want uint64
	o := 0
	for _, ids := range [2][]string{globals, own} {
		for _, id := range ids {
			if o < maxChainPolicies && slices.Contains(cp.ids, id) {
				want |= 1 << o
			}
			o++
		}
	}
	if want == 0 {
		return 0
	}
	var ran uint64
	for q := PhaseRewrite; q <= p; q++ {
		m := r.meta[q]
		if q == p {
			m = m[:at]
		}
		for _, h := range m {
			if h.owner < maxChainPolicies {
				ran |= 1 << h.owner
			}
		}
	}
	return want &^ ran
}

// mergePhase builds phase p of the request's merged chain: the route's
// handlers before start as they are, then the rest of the route's (less
// the skipped policies') and the consumer's, by priority. A phase with
// nothing to merge shares the route's array.
func (j *consumerJoin) mergePhase(p Phase, start int, r *Route, cp *consumerPolicies, skip uint64) {
	rh, rm := r.chain[p], r.meta[p]
	ch, cm := cp.chain[p], cp.meta[p]
	if len(ch) == 0 && !skipsAny(rm[start:], skip) {
		j.merged[p], j.from[p] = rh, nil
		return
	}
	out := append(j.buf[p][:0], rh[:start]...)
	from := j.fromBuf[p][:0]
	for i := 0; i < start; i++ {
		from = append(from, int16(i))
	}
	ri, ci := start, 0
	for ri < len(rh) || ci < len(ch) {
		if ri < len(rh) && skipped(rm[ri], skip) {
			ri++
			continue
		}
		if ci < len(ch) && (ri >= len(rh) || cm[ci].prio > rm[ri].prio) {
			out, from = append(out, ch[ci]), append(from, fromConsumer)
			ci++
			continue
		}
		out, from = append(out, rh[ri]), append(from, int16(ri))
		ri++
	}
	j.buf[p], j.fromBuf[p] = out, from
	j.merged[p], j.from[p] = out, from
}

// fromConsumer marks a merged handler that is the consumer's.
const fromConsumer = -1

func skipped(h handlerMeta, skip uint64) bool {
	return h.owner < maxChainPolicies && skip&(1<<h.owner) != 0
}

func skipsAny(m []handlerMeta, skip uint64) bool {
	if skip == 0 {
		return false
	}
	for _, h := range m {
		if skipped(h, skip) {
			return true
		}
	}
	return false
}

// consumerHandlersRan says whether a handler of the joined consumer's has
// run: in a phase passed since the join, or before the one running now.
func (j *consumerJoin) consumerHandlersRan(phase Phase, next int) bool {
	for p := PhaseRewrite; p <= phase; p++ {
		from := j.from[p]
		if p == phase {
			from = from[:min(next, len(from))]
		}
		for _, f := range from {
			if f == fromConsumer {
				return true
			}
		}
	}
	return false
}

// routeIndex maps a place in phase p of the merged chain to the route's
// own chain; before it only route handlers ran (consumerHandlersRan).
func (j *consumerJoin) routeIndex(p Phase, next int) int {
	from := j.from[p]
	if from == nil || next == 0 {
		return next
	}
	return int(from[next-1]) + 1
}

// Fields naming the consumer, which only the gateway may send upstream.
var (
	consumerFieldPrefix = []byte("x-consumer-")
	anonymousField      = []byte("x-anonymous-consumer")
)

// stripClientIdentity removes the client's own X-Consumer-* and
// X-Anonymous-Consumer fields from the upstream request, on every route of
// a config that has consumers: an upstream that trusts X-Consumer-Name
// must not be told a name by the client on a route without an auth policy
// (Kong and APISIX forward them there). The auth policies set their own.
func (x *Ctx) stripClientIdentity() {
	for _, f := range x.req.Fields {
		n := f.Name.In(x.head)
		if len(n) < len(consumerFieldPrefix) || n[0]|0x20 != 'x' {
			continue
		}
		if bytes.EqualFold(n[:len(consumerFieldPrefix)], consumerFieldPrefix) || bytes.EqualFold(n, anonymousField) {
			x.reqEdits.Remove(n)
		}
	}
}
