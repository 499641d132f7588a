package engine

import (
	"encoding/binary"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"weak"

	"github.com/cespare/xxhash/v2"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/redis"
	"github.com/sluice-gw/sluice/stats"
)

// The engine's counters are per worker (package stats): each worker writes
// its own padded block without a lock or a shared cache line, and a read
// (/status, a Prometheus scrape) sums the blocks. Off-loop writers use the
// Set's shared block. A finished request costs one countResponse: a few
// stores into the worker's own block, no lock, no allocation.
//
// Per-route and per-upstream counters are vectors indexed by a series
// number the route or upstream gets when a config is compiled (its name's
// number in a process-wide registry, so a route keeps its series across
// reloads). The registry grows every live server's vectors before the
// compiled snapshot can be published, so a worker never writes an index its
// shard lacks. Past a cap, new names share one overflow series (the
// cardinality guard) and the overflow is counted.

// engineMetrics holds the ids of the engine's metrics in its Set.
type engineMetrics struct {
	set *stats.Set

	requests         stats.CounterID
	responses        stats.VecID // by status class: 1xx..5xx at 0..4
	upstreamDials    stats.CounterID
	upstreamReused   stats.CounterID
	upstreamRetries  stats.CounterID
	upstreamFailures stats.VecID // by failKind
	handoffs         stats.CounterID
	clientConns      stats.GaugeID
	requestDuration  stats.HistogramID
	upstreamDuration stats.HistogramID
	gatewayDuration  stats.HistogramID
	receivedBytes    stats.CounterID
	sentBytes        stats.CounterID
	tracesStarted    stats.CounterID
	routeRequests    stats.VecID                  // route series * numCodeSlots + code slot
	upstreamRequests stats.VecID                  // upstream series * numCodeSlots + code slot
	consumerRequests stats.VecID                  // consumer series * numCodeSlots + code slot (admin.metrics_consumer_label)
	policyCounters   stats.VecID                  // every policy's counters (policymetrics.go)
	connStates       [numConnStates]stats.GaugeID // client connections by state (connstate.go)
}

// durationBounds are the latency histograms' bucket bounds in seconds
// (Prometheus' defaults, from 1 ms).
var durationBounds = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// gatewayBounds are the bounds of the gateway's own time, which is
// microseconds when policies do no I/O.
var gatewayBounds = []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1}

// failKindNames label sluice_upstream_failures_total, by failKind.
var failKindNames = []string{"connect", "connect_timeout", "closed", "timeout", "bad_response", "status"}

func newEngineMetrics(workers int) *engineMetrics {
	m := newEngineSet(workers)
	registerMetrics(m)
	return m
}

// newEngineSet registers the engine's metrics in a new Set.
func newEngineSet(workers int) *engineMetrics {
	s := stats.NewSet(workers)
	m := &engineMetrics{
		set:              s,
		requests:         s.Counter("sluice_requests_total", "Requests whose head was parsed."),
		responses:        s.CounterVec("sluice_responses_total", "Responses sent, by status class.", "class", "1xx", "2xx", "3xx", "4xx", "5xx"),
		upstreamDials:    s.Counter("sluice_upstream_connections_opened_total", "Upstream connections dialed."),
		upstreamReused:   s.Counter("sluice_upstream_connections_reused_total", "Requests sent on a pooled upstream connection."),
		upstreamRetries:  s.Counter("sluice_upstream_retries_total", "Requests sent again to another target."),
		upstreamFailures: s.CounterVec("sluice_upstream_failures_total", "Upstream attempts that failed before a usable response head, by kind.", "kind", failKindNames...),
		handoffs:         s.Counter("sluice_handoffs_total", "Body streams handed to a goroutine (slow peers)."),
		clientConns:      s.Gauge("sluice_client_connections", "Client connections open now."),
		requestDuration:  s.DurationHistogram("sluice_request_duration_seconds", "Time from the request head to the end of the response.", durationBounds),
		upstreamDuration: s.DurationHistogram("sluice_upstream_duration_seconds", "Time of a proxied request's last upstream attempt, from picking the target (connect included) to the response's last byte.", durationBounds),
		gatewayDuration:  s.DurationHistogram("sluice_gateway_duration_seconds", "The gateway's own time per request: the total minus the last upstream attempt (policies, suspensions and failed attempts included).", gatewayBounds),
		receivedBytes:    s.Counter("sluice_received_bytes_total", "Request bytes received: heads and bodies."),
		sentBytes:        s.Counter("sluice_sent_body_bytes_total", "Response body bytes sent to clients (heads not counted)."),
		tracesStarted:    s.Counter("sluice_traces_started_total", "Requests sent upstream with a traceparent the gateway started."),
		routeRequests:    s.CounterVec("sluice_route_requests_total", "Requests by route and status code.", "route_code"),
		upstreamRequests: s.CounterVec("sluice_upstream_requests_total", "Proxied requests by upstream and status code sent to the client.", "upstream_code"),
		consumerRequests: s.CounterVec("sluice_consumer_requests_total", "Requests by consumer and status code (admin.metrics_consumer_label); consumer \"(none)\" for requests no auth policy identified.", "consumer_code"),
		policyCounters:   s.CounterVec("sluice_policy_counters", "Counters the policies declared (exposed under their own names).", "policy_series"),
	}
	m.connStates = registerConnStates(s)
	return m
}

// Stats are the engine's counters summed over the workers at one read.
type Stats struct {
	Requests         uint64 // requests whose head was parsed
	UpstreamDials    uint64 // upstream connections dialed
	UpstreamReused   uint64 // requests sent on a pooled connection
	UpstreamRetries  uint64 // requests sent again to another target
	ClientConns      int64  // client connections open now
	Handoffs         uint64 // body streams handed to a goroutine (slow peers)
	Responses5xxSent uint64
}

// Stats sums the workers' counters. Safe from any goroutine; the sums of
// different counters are not from one instant, and never torn.
func (s *Server) Stats() Stats {
	m := s.metrics
	return Stats{
		Requests:         m.set.CounterValue(m.requests),
		UpstreamDials:    m.set.CounterValue(m.upstreamDials),
		UpstreamReused:   m.set.CounterValue(m.upstreamReused),
		UpstreamRetries:  m.set.CounterValue(m.upstreamRetries),
		ClientConns:      m.set.GaugeValue(m.clientConns),
		Handoffs:         m.set.CounterValue(m.handoffs),
		Responses5xxSent: m.set.VecValue(m.responses, 4),
	}
}

// Metrics is the engine's metric set, for exposition (/metrics).
func (s *Server) Metrics() *stats.Set { return s.metrics.set }

// VecLabels tells an exporter how the index of one of the engine's
// vectors maps to labels.
type VecLabels struct {
	// Names are the label names.
	Names []string
	// Values appends the label values of index idx to dst.
	Values func(dst []string, idx int) []string
}

// UnknownSeries is the label value VecLabels gives an index whose name
// was numbered after it copied the names: the next call names it.
const UnknownSeries = "(unknown)"

// VecLabels returns the labels of the engine vector id when its index is
// a product (route and code); false for a vector with one label, whose
// values its Desc names. Call it once per scrape: it copies the series
// names in force.
func (s *Server) VecLabels(id stats.VecID) (VecLabels, bool) {
	m := s.metrics
	var label string
	var reg *seriesNames
	switch id {
	case m.routeRequests:
		label, reg = "route", &registry.routes
	case m.upstreamRequests:
		label, reg = "upstream", &registry.upstreams
	case m.consumerRequests:
		label, reg = "consumer", &registry.consumers
	default:
		return VecLabels{}, false
	}
	// The names are numbered for the process's life and never change, so
	// the slice as it is now stays valid: later names are appended past its
	// length (or to a new array). A copy cost a scrape of 10,000 routes
	// 0.5 ms and 160 KB.
	registry.mu.Lock()
	names := reg.names[:len(reg.names):len(reg.names)]
	registry.mu.Unlock()
	return VecLabels{
		Names: []string{label, "code"},
		Values: func(dst []string, idx int) []string {
			name := UnknownSeries
			if i := idx / numCodeSlots; i < len(names) {
				name = names[i]
			}
			return append(dst, name, codeNames[idx%numCodeSlots])
		},
	}, true
}

// Overflows counts the names that got an overflow series because their
// vector's cap of distinct names was reached (the cardinality guard).
type Overflows struct {
	Routes    uint64 // route names past maxRouteSeries
	Upstreams uint64 // upstream names past maxUpstreamSeries
	Consumers uint64 // consumer names past maxConsumerSeries
	Policies  uint64 // policy series (family, route, policy) past maxPolicySeries
}

// SeriesOverflow returns the process's overflow counts.
func SeriesOverflow() Overflows {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	return Overflows{
		Routes:    registry.routes.overflowed,
		Upstreams: registry.upstreams.overflowed,
		Consumers: registry.consumers.overflowed,
		Policies:  registry.policy.overflowed,
	}
}

// Redis is the process's Redis client this config version uses, or nil.
func (s *Snapshot) Redis() *redis.Client { return s.redis }

// countResponse records a finished request: status, durations, bytes,
// its route's and upstream's series. On the worker; allocation-free.
func (w *worker) countResponse(x *Ctx) {
	m := w.srv.metrics
	st := x.status
	if st >= 100 && st < 600 {
		w.m.AddIndexed(m.responses, st/100-1, 1)
	}
	slot := int(codeSlot(st))
	total := w.now - x.startNanos
	w.m.ObserveNanos(m.requestDuration, total)
	routeSeries := seriesNone
	if x.route != nil {
		routeSeries = x.route.series
	}
	w.m.AddIndexed(m.routeRequests, int(routeSeries)*numCodeSlots+slot, 1)
	cc := x.cc
	own := total
	if up := x.UpstreamNanos(); up >= 0 {
		w.m.ObserveNanos(m.upstreamDuration, up)
		own -= up
		if u := x.upstreamOf(); u != nil {
			w.m.AddIndexed(m.upstreamRequests, int(u.series)*numCodeSlots+slot, 1)
		}
	}
	w.m.ObserveNanos(m.gatewayDuration, own)
	w.m.Add(m.receivedBytes, uint64(len(x.head))+uint64(cc.bodyBytes))
	w.m.Add(m.sentBytes, uint64(x.bodySent))
	if x.snap != nil && x.snap.Config != nil && x.snap.Config.Admin.MetricsConsumerLabel {
		w.countConsumer(x, slot)
	}
}

// countConsumer records a finished request by its consumer ("(none)"
// without one). The consumer's series is found in a map published
// copy-on-write; only the first request of a name the process has not
// numbered yet takes the registry's lock (consumerSeriesOf).
func (w *worker) countConsumer(x *Ctx, slot int) {
	series := seriesNone
	if c := x.Consumer(); c != nil {
		series = consumerSeriesOf(c.Name, x.snap.Config)
	}
	w.m.AddIndexed(w.srv.metrics.consumerRequests, int(series)*numCodeSlots+slot, 1)
}

// countUpstreamFailure records an upstream attempt that failed.
func (w *worker) countUpstreamFailure(kind failKind) {
	w.m.AddIndexed(w.srv.metrics.upstreamFailures, int(kind), 1)
}

// --- What a log line reads besides ctx.go's accessors ---

// UpstreamNanos is the duration of the request's last upstream attempt,
// from picking its target (connecting included) to now — the response's
// last byte once the request is done, as in the log phase — or -1 when
// the request was not proxied.
func (x *Ctx) UpstreamNanos() int64 {
	if x.cc == nil || x.cc.attempts == 0 || x.target == nil {
		return -1
	}
	return x.cc.w.now - x.cc.attemptStart
}

// Tries is the number of upstream attempts the request made (0: not
// proxied).
func (x *Ctx) Tries() int {
	if x.cc == nil {
		return 0
	}
	return x.cc.attempts
}

// BytesReceived is the request's head length plus the body bytes read so
// far (all of them once the request is done, unless a policy buffered the
// body itself).
func (x *Ctx) BytesReceived() int64 {
	n := int64(len(x.head))
	if x.cc != nil {
		n += x.cc.bodyBytes
	}
	return n
}

// --- Status codes as a label ---

// trackedCodes get a series of their own; other statuses count as their
// class ("4xx"), and no response at all (the client left) as "0".
var trackedCodes = []int{200, 201, 204, 206, 301, 302, 304, 400, 401, 403, 404, 405, 408, 413, 429, 499, 500, 502, 503, 504}

// numCodeSlots is the number of code label values: the tracked codes, the
// five classes and "0".
var numCodeSlots = len(trackedCodes) + 6

var (
	codeSlots [600]uint8
	codeNames []string
)

func init() {
	codeNames = make([]string, 0, numCodeSlots)
	for _, c := range trackedCodes {
		codeNames = append(codeNames, strconv.Itoa(c))
	}
	for class := 1; class <= 5; class++ {
		slot := uint8(len(codeNames))
		codeNames = append(codeNames, strconv.Itoa(class)+"xx")
		for c := class * 100; c < class*100+100; c++ {
			codeSlots[c] = slot
		}
	}
	codeNames = append(codeNames, "0")
	for i, c := range trackedCodes {
		codeSlots[c] = uint8(i)
	}
}

// codeSlot is status's code label index.
func codeSlot(status int) uint8 {
	if status < 100 || status >= 600 {
		return uint8(numCodeSlots - 1)
	}
	return codeSlots[status]
}

// --- Series registry ---

// Series caps: beyond them, a new route or upstream name shares the
// overflow series. A route series costs numCodeSlots counters per worker
// (26 × 8 bytes), so 10,000 routes cost about 2 MiB per worker.
const (
	maxRouteSeries    = 10000
	maxUpstreamSeries = 2000
	maxConsumerSeries = 10000
)

// Reserved series: requests without a route, and names past the cap.
const (
	seriesNone     int32 = 0
	seriesOverflow int32 = 1
)

// seriesNames numbers names for one vector, for the process's life.
type seriesNames struct {
	idx        map[string]int32
	names      []string
	limit      int
	overflowed uint64
}

// registry holds the process's series numbers and the live metric sets
// whose vectors follow them (weak: a server that is gone is not kept).
var registry = struct {
	mu        sync.Mutex
	routes    seriesNames
	upstreams seriesNames
	consumers seriesNames
	policy    policyRegistry // policymetrics.go
	sets      []weak.Pointer[engineMetrics]
}{
	routes:    seriesNames{names: []string{"(none)", "(overflow)"}, limit: maxRouteSeries},
	upstreams: seriesNames{names: []string{"(none)", "(overflow)"}, limit: maxUpstreamSeries},
	consumers: seriesNames{names: []string{"(none)", "(overflow)"}, limit: maxConsumerSeries},
}

// consumerIndex maps the consumer names numbered so far (and those past
// the cap, to seriesOverflow) to their series, for the request path to
// read without the registry's lock. Replaced whole under registry.mu.
var consumerIndex atomic.Pointer[map[string]int32]

// index returns name's series, numbering it first if new. Called with
// registry.mu held; grew reports a new number.
func (r *seriesNames) index(name string) (idx int32, grew bool) {
	if i, ok := r.idx[name]; ok {
		return i, false
	}
	if len(r.names) >= r.limit+2 {
		r.overflowed++
		return seriesOverflow, false
	}
	if r.idx == nil {
		r.idx = make(map[string]int32)
	}
	i := int32(len(r.names))
	r.idx[name] = i
	r.names = append(r.names, name)
	return i, true
}

// vecLen is the vector length that covers n series: rounded up to a power
// of two so that a compile adding routes one by one grows rarely.
func vecLen(n int) int {
	c := 64
	for c < n {
		c *= 2
	}
	return c * numCodeSlots
}

// registerMetrics makes m's vectors follow the registry.
func registerMetrics(m *engineMetrics) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	m.set.GrowVec(m.routeRequests, vecLen(len(registry.routes.names)))
	m.set.GrowVec(m.upstreamRequests, vecLen(len(registry.upstreams.names)))
	m.set.GrowVec(m.consumerRequests, vecLen(len(registry.consumers.names)))
	m.set.GrowVec(m.policyCounters, policyVecLen(registry.policy.size))
	live := registry.sets[:0]
	for _, p := range registry.sets {
		if p.Value() != nil {
			live = append(live, p)
		}
	}
	registry.sets = append(live, weak.Make(m))
}

// routeSeriesOf returns the series of a route name, growing the live
// servers' vectors when it is new. The compiler calls it before the
// snapshot that carries the number can be published.
func routeSeriesOf(name string) int32 {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	i, grew := seriesOfLocked(&registry.routes, name, func(m *engineMetrics) stats.VecID { return m.routeRequests })
	if grew {
		registry.policy.routeNumbered(i, name) // the global policies' series for it
	}
	return i
}

// upstreamSeriesOf is routeSeriesOf for an upstream name.
func upstreamSeriesOf(name string) int32 {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	i, _ := seriesOfLocked(&registry.upstreams, name, func(m *engineMetrics) stats.VecID { return m.upstreamRequests })
	return i
}

// seriesOfLocked numbers name in r and grows the live servers' vector
// when it is new. Called with registry.mu held.
func seriesOfLocked(r *seriesNames, name string, vec func(*engineMetrics) stats.VecID) (int32, bool) {
	i, grew := r.index(name)
	if grew {
		growLive(vec, vecLen(len(r.names)))
	}
	return i, grew
}

// growLive grows vector vec of every live server to n indexes. Called
// with registry.mu held.
func growLive(vec func(*engineMetrics) stats.VecID, n int) {
	for _, p := range registry.sets {
		if m := p.Value(); m != nil && m.set.VecLen(vec(m)) < n {
			m.set.GrowVec(vec(m), n)
		}
	}
}

// consumerSeriesOf returns the series of a consumer name: from the
// published index, or, the first time the process sees the name, by
// numbering it together with every consumer of cfg (so a config's
// consumers cost one copy of the index, not one each). On the worker; the
// slow path takes the registry's lock once per new name.
func consumerSeriesOf(name string, cfg *config.Config) int32 {
	if idx := consumerIndex.Load(); idx != nil {
		if i, ok := (*idx)[name]; ok {
			return i
		}
	}
	registry.mu.Lock()
	defer registry.mu.Unlock()
	old := consumerIndex.Load()
	if old != nil {
		if i, ok := (*old)[name]; ok {
			return i // numbered by another worker meanwhile
		}
	}
	next := make(map[string]int32, 1+len(registry.consumers.names))
	if old != nil {
		for k, v := range *old {
			next[k] = v
		}
	}
	add := func(n string) {
		if _, ok := next[n]; !ok {
			next[n], _ = registry.consumers.index(n) // seriesOverflow past the cap, counted once
		}
	}
	if cfg != nil {
		for i := range cfg.Consumers {
			add(cfg.Consumers[i].Name)
		}
	}
	add(name)
	growLive(func(m *engineMetrics) stats.VecID { return m.consumerRequests }, vecLen(len(registry.consumers.names)))
	consumerIndex.Store(&next)
	return next[name]
}

// --- W3C trace context ---

// traceSeeds make the trace ids a process starts unpredictable from the
// request ids they derive from.
var traceSeeds = [3]uint64{rand.Uint64(), rand.Uint64(), rand.Uint64()}

var (
	traceparentName = []byte("traceparent")
	tracestateName  = []byte("tracestate")
)

// traceContext starts a trace for a request going upstream without a
// valid traceparent, when the config asks (trace.start); a valid one
// passes unchanged, with its tracestate. Called once per request, before
// its first attempt. Allocation-free.
func (x *Ctx) traceContext() {
	if x.snap.Config == nil || !x.snap.Config.Trace.Start {
		return
	}
	if _, ok := x.clientTraceparent(); ok {
		return
	}
	var buf [55]byte
	tp := x.appendStartedTraceparent(buf[:0])
	x.reqEdits.Set(traceparentName, tp)
	if _, ok := x.Header("tracestate"); ok {
		// A tracestate without a valid traceparent belongs to no trace
		// (W3C trace context §3.3).
		x.reqEdits.Remove(tracestateName)
	}
	x.cc.w.m.Inc(x.cc.w.srv.metrics.tracesStarted)
}

// AppendTraceID appends the request's 32-hex-digit W3C trace id to dst:
// its valid traceparent's, else the one the gateway started for it when
// trace.start is on; otherwise dst unchanged. Allocation-free.
func (x *Ctx) AppendTraceID(dst []byte) []byte {
	if v, ok := x.clientTraceparent(); ok {
		return append(dst, v[3:35]...)
	}
	if x.snap == nil || x.snap.Config == nil || !x.snap.Config.Trace.Start {
		return dst
	}
	var buf [55]byte
	tp := x.appendStartedTraceparent(buf[:0])
	return append(dst, tp[3:35]...)
}

// clientTraceparent returns the request's traceparent when it is valid:
// one field, well-formed. Two fields are no valid one, whatever they hold
// (the W3C test suite's test_traceparent_duplicated): kept, the upstream
// would get both. Allocation-free.
func (x *Ctx) clientTraceparent() ([]byte, bool) {
	var v []byte
	n := 0
	for _, f := range x.req.Fields {
		if equalFoldASCII(f.Name.In(x.head), "traceparent") {
			if n++; n > 1 {
				return nil, false
			}
			v = f.Value.In(x.head)
		}
	}
	return v, n == 1 && ValidTraceparent(v)
}

// appendStartedTraceparent appends the traceparent the gateway starts for
// x: "00-" trace id "-" span id "-00". The ids are hashes of the request id
// and start time under the process's random seeds, so the log phase can
// compute the id again instead of keeping it in the Ctx.
func (x *Ctx) appendStartedTraceparent(dst []byte) []byte {
	// in is seed, start time, request id; each id hashes it under its own
	// seed.
	var in [56]byte
	n := copy(in[16:], x.RequestID())
	binary.LittleEndian.PutUint64(in[8:], uint64(x.startNanos))
	var ids [3]uint64
	for i, seed := range traceSeeds {
		binary.LittleEndian.PutUint64(in[:8], seed)
		ids[i] = xxhash.Sum64(in[:16+n])
	}
	hi, lo, span := ids[0], ids[1], ids[2]
	if hi|lo == 0 {
		lo = 1 // an all-zero trace id is invalid
	}
	if span == 0 {
		span = 1
	}
	dst = append(dst, "00-"...)
	dst = appendHex64(dst, hi)
	dst = appendHex64(dst, lo)
	dst = append(dst, '-')
	dst = appendHex64(dst, span)
	return append(dst, "-00"...)
}

const hexDigits = "0123456789abcdef"

func appendHex64(dst []byte, v uint64) []byte {
	for s := 60; s >= 0; s -= 4 {
		dst = append(dst, hexDigits[(v>>uint(s))&0xf])
	}
	return dst
}

// ValidTraceparent reports whether v is a traceparent the gateway keeps:
// version 00 exactly ("00-" 32 hex "-" 16 hex "-" 2 hex, lower case, ids
// not all zero), or a later version (not ff) that starts the same way.
func ValidTraceparent(v []byte) bool {
	if len(v) < 55 || (len(v) > 55 && v[55] != '-') {
		return false
	}
	if v[2] != '-' || v[35] != '-' || v[52] != '-' {
		return false
	}
	if v[0] == '0' && v[1] == '0' && len(v) != 55 {
		return false
	}
	if v[0] == 'f' && v[1] == 'f' {
		return false
	}
	return lowerHex(v[0:2], false) && lowerHex(v[3:35], true) && lowerHex(v[36:52], true) && lowerHex(v[53:55], false)
}

// lowerHex reports whether b is lower-case hex digits, not all zeros when
// nonZero.
func lowerHex(b []byte, nonZero bool) bool {
	zero := true
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			if c != '0' {
				zero = false
			}
		case 'a' <= c && c <= 'f':
			zero = false
		default:
			return false
		}
	}
	return !nonZero || !zero
}
