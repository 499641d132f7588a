package engine

import "testing"

// joinFixture: a route of a global and four policies (identify at 2000,
// handlers in access, header_filter and log) and a consumer of two, one
// replacing the route's "limit".
func joinFixture() (*Route, *Consumer) {
	nop := func(*Ctx) Status { return Continue }
	var rb ChainBuilder
	for _, p := range []struct {
		prio   int
		phases []Phase
	}{
		{0, []Phase{PhaseHeaderFilter, PhaseLog}},      // global: report
		{2000, []Phase{PhaseAccess}},                   // identify
		{1000, []Phase{PhaseAccess, PhaseLog}},         // limit
		{900, []Phase{PhaseAccess, PhaseHeaderFilter}}, // headers
		{500, []Phase{PhaseContent}},                   // cache
	} {
		rb.prio = p.prio
		for _, ph := range p.phases {
			rb.Add(ph, nop)
		}
		rb.owner++
	}
	r := &Route{own: &policySet{ids: []string{"identify", "limit", "headers", "cache"}}}
	r.chain, r.meta = rb.buildWithMeta()
	cb := ChainBuilder{consumer: true}
	for _, prio := range []int{1000, 800} {
		cb.prio = prio
		cb.Add(PhaseAccess, nop)
		cb.Add(PhaseLog, nop)
		cb.owner++
	}
	cp := &consumerPolicies{ids: []string{"limit", "own-headers"}}
	cp.chain, cp.meta = cb.buildWithMeta()
	return r, &Consumer{Name: "gold", policies: cp}
}

// joinSnapshot has the fixture's one global policy.
var joinSnapshot = &Snapshot{globals: &policySet{ids: []string{"report"}}}

func TestJoinMergesByPriorityAndReplaces(t *testing.T) {
	r, c := joinFixture()
	x := &Ctx{snap: joinSnapshot, route: r, chain: &r.chain, stage: stageRequest, phase: PhaseAccess, next: 1}
	x.joinConsumer(c)
	if x.chain != &x.join.merged {
		t.Fatal("not joined")
	}
	// access: identify, consumer's limit (1000), headers (900), consumer's 800; the route's limit is replaced.
	if got := x.join.from[PhaseAccess]; len(got) != 4 || got[0] != 0 || got[1] != fromConsumer || got[2] != 2 || got[3] != fromConsumer {
		t.Fatalf("access merged from %v", got)
	}
	// log: the consumer's two (1000, 800), then the global's (0, the
	// route's second); the route's limit's log handler went with it.
	if got := x.join.from[PhaseLog]; len(got) != 3 || got[0] != fromConsumer || got[1] != fromConsumer || got[2] != 1 {
		t.Fatalf("log merged from %v", got)
	}
	if len(x.chain[PhaseContent]) != 1 || len(x.chain[PhaseHeaderFilter]) != 2 {
		t.Fatalf("untouched phases changed: %d content, %d header_filter", len(x.chain[PhaseContent]), len(x.chain[PhaseHeaderFilter]))
	}
}

func BenchmarkJoinConsumer(b *testing.B) {
	r, c := joinFixture()
	x := &Ctx{snap: joinSnapshot, route: r, chain: &r.chain, stage: stageRequest, phase: PhaseAccess, next: 1}
	x.joinConsumer(c) // warm the buffers
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		x.join.policies, x.chain, x.next = nil, &r.chain, 1
		x.joinConsumer(c)
	}
}

func TestJoinAllocatesNothingWhenWarm(t *testing.T) {
	r, c := joinFixture()
	x := &Ctx{snap: joinSnapshot, route: r, chain: &r.chain, stage: stageRequest, phase: PhaseAccess, next: 1}
	x.joinConsumer(c)
	if n := testing.AllocsPerRun(100, func() {
		x.join.policies, x.chain, x.next = nil, &r.chain, 1
		x.joinConsumer(c)
	}); n != 0 {
		t.Fatalf("%v allocations per join", n)
	}
}
