package admin

import (
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/lb"
	"github.com/sluice-gw/sluice/stats"
)

// Collector is a prometheus.Collector over a running engine: the engine's
// per-worker metric set (package stats), summed at scrape time, plus what
// the engine's parts report about themselves — upstream targets, shared
// dicts, the Redis client — and the access log.
//
// It is unchecked (Describe sends nothing): the series it exposes follow
// the config (routes, upstreams, dicts) and change with reloads. Scrapes
// are serialized by its mutex, which only scrapes take; they reuse one
// stats.Snapshot, so summing the workers allocates nothing once warm (the
// const metrics handed to client_golang do allocate, per series).
type Collector struct {
	srv     *engine.Server
	log     LogStats
	version string

	// handWritten leaves the engine's product vectors (route × code,
	// upstream × code) to AppendVectors.
	handWritten bool

	reloads reloadTimes

	mu    sync.Mutex
	snap  stats.Snapshot
	hist  stats.HistogramValue
	descs []*prometheus.Desc // per stats.Desc, built on first scrape
	vecs  map[int]*prometheus.Desc
	fams  []engine.PolicyFamily // reused by every scrape
	lv    []string              // label values of the sample being written
	names []string              // label names of the family being written
}

// NewCollector returns a collector for srv; log may be nil.
func NewCollector(srv *engine.Server, log LogStats, version string) *Collector {
	return &Collector{srv: srv, log: log, version: version, vecs: make(map[int]*prometheus.Desc)}
}

// Describe sends nothing: the collector is unchecked.
func (c *Collector) Describe(chan<- *prometheus.Desc) {}

// Descriptors of what the collector adds to the engine's own set.
var (
	descInFlight        = desc("sluice_requests_in_flight", "Requests being served now.", nil, nil)
	descConfigVersion   = desc("sluice_config_version", "Version of the config in force (1 for the first, +1 per accepted change).", nil, nil)
	descBuildInfo       = desc("sluice_build_info", "The gateway's build, as labels; the value is 1.", []string{"version", "goversion"}, nil)
	descWorkers         = desc("sluice_workers", "Event loops (workers).", nil, nil)
	descStatsDropped    = desc("sluice_metrics_dropped_writes_total", "Metric writes dropped for a series index not grown yet (an engine bug when not 0).", nil, nil)
	descSeriesOverflow  = desc("sluice_metrics_series_overflow_total", "Route, upstream or consumer names, or policy series, counted in an (overflow) series because their vector's series cap was reached.", []string{"vector"}, nil)
	descConnIdle        = desc("sluice_client_connections_by_state", engine.ConnStatesHelp, nil, prometheus.Labels{"state": "idle"})
	descTargetHealth    = desc("sluice_upstream_target_health", "1 for the target's health state, 0 for the others (healthy, down: passive checks or ejection, unhealthy: active probes).", []string{"upstream", "target", "state"}, nil)
	descTargetInFlight  = desc("sluice_upstream_target_in_flight", "Requests in flight to the target.", []string{"upstream", "target"}, nil)
	descTargetRequests  = desc("sluice_upstream_target_requests_total", "Attempts that ended on the target.", []string{"upstream", "target"}, nil)
	descTargetFailures  = desc("sluice_upstream_target_failures_total", "Failed attempts on the target.", []string{"upstream", "target"}, nil)
	descTargetLatency   = desc("sluice_upstream_target_latency_ewma_seconds", "The target's latency EWMA.", []string{"upstream", "target"}, nil)
	descUpstreamHealthy = desc("sluice_upstream_targets", "Targets of the upstream, by whether they are healthy.", []string{"upstream", "state"}, nil)
	descEjections       = desc("sluice_upstream_ejections_total", "Targets ejected by outlier detection.", []string{"upstream"}, nil)
	descEjectRefused    = desc("sluice_upstream_ejections_refused_total", "Ejections refused by the max-ejected share.", []string{"upstream"}, nil)
	descDictCapacity    = desc("sluice_shared_dict_capacity_bytes", "The shared dict's byte capacity.", []string{"dict"}, nil)
	descDictUsed        = desc("sluice_shared_dict_used_bytes", "Bytes counted against the shared dict's capacity.", []string{"dict"}, nil)
	descDictEntries     = desc("sluice_shared_dict_entries", "Entries stored (expired ones not yet removed included).", []string{"dict"}, nil)
	descDictEvictions   = desc("sluice_shared_dict_evictions_total", "Entries evicted to make room.", []string{"dict"}, nil)
	descDictExpired     = desc("sluice_shared_dict_expired_total", "Expired entries removed.", []string{"dict"}, nil)
	descRedisConnected  = desc("sluice_redis_connected", "1 when the Redis client's first connection succeeded (reachable at least once), else 0.", nil, nil)
	descRedisCalls      = desc("sluice_redis_calls_total", "Redis calls made, failed ones included.", nil, nil)
	descRedisErrors     = desc("sluice_redis_errors_total", "Redis calls that failed, by kind.", []string{"kind"}, nil)
	descRedisConnects   = desc("sluice_redis_connect_failures_total", "Failed background connects to Redis.", nil, nil)
	descReloadTime      = desc("sluice_config_last_reload_timestamp_seconds", "When the last reload was accepted (result=success) or refused (result=failure), unix seconds; 0 for none yet.", []string{"result"}, nil)
	descReloads         = desc("sluice_config_reloads_total", "Config reloads, by result.", []string{"result"}, nil)
	descLogLines        = desc("sluice_access_log_lines_total", "Access-log lines written.", nil, nil)
	descLogDropped      = desc("sluice_access_log_dropped_total", "Access-log lines dropped because the writer fell behind.", nil, nil)
)

// ownNames are the names of the collector's own descriptors: policies may
// not declare them (engine.ReserveMetricNames).
var ownNames []string

func desc(name, help string, labels []string, constLabels prometheus.Labels) *prometheus.Desc {
	ownNames = append(ownNames, name)
	return prometheus.NewDesc(name, help, labels, constLabels)
}

func init() { engine.ReserveMetricNames(ownNames...) }

// Collect sends every metric.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.collectEngine(ch)
	c.collectParts(ch)
}

func (c *Collector) collectEngine(ch chan<- prometheus.Metric) {
	set := c.srv.Metrics()
	set.Snapshot(&c.snap)
	descs := set.Descs()
	if c.descs == nil {
		c.descs = make([]*prometheus.Desc, len(descs))
		for i := range descs {
			d := &descs[i]
			if d.Kind == stats.KindCounterVec {
				continue // vectors get their desc with their labels below
			}
			c.descs[i] = prometheus.NewDesc(d.Name, d.Help, nil, constLabels(d.Labels))
		}
	}
	for i := range descs {
		d := &descs[i]
		switch d.Kind {
		case stats.KindCounter:
			ch <- prometheus.MustNewConstMetric(c.descs[i], prometheus.CounterValue, float64(c.snap.Counter(stats.CounterID(d.ID))))
		case stats.KindGauge:
			ch <- prometheus.MustNewConstMetric(c.descs[i], prometheus.GaugeValue, float64(c.snap.Gauge(stats.GaugeID(d.ID))))
		case stats.KindHistogram:
			c.snap.Histogram(stats.HistogramID(d.ID), &c.hist)
			buckets := make(map[float64]uint64, len(c.hist.Bounds))
			for j, b := range c.hist.Bounds {
				buckets[b] = c.hist.Buckets[j]
			}
			ch <- prometheus.MustNewConstHistogram(c.descs[i], c.hist.Count, c.hist.Sum, buckets)
		case stats.KindCounterVec:
			if stats.VecID(d.ID) != c.srv.PolicyVec() { // policies' families: collectPolicies, AppendVectors
				c.collectVec(ch, d)
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(descStatsDropped, prometheus.CounterValue, float64(c.snap.Dropped()))
	of := engine.SeriesOverflow()
	ch <- prometheus.MustNewConstMetric(descSeriesOverflow, prometheus.CounterValue, float64(of.Routes), "route")
	ch <- prometheus.MustNewConstMetric(descSeriesOverflow, prometheus.CounterValue, float64(of.Upstreams), "upstream")
	ch <- prometheus.MustNewConstMetric(descSeriesOverflow, prometheus.CounterValue, float64(of.Consumers), "consumer")
	ch <- prometheus.MustNewConstMetric(descSeriesOverflow, prometheus.CounterValue, float64(of.Policies), "policy")
	_, idle := c.srv.ConnStates()
	ch <- prometheus.MustNewConstMetric(descConnIdle, prometheus.GaugeValue, float64(idle))
	if !c.handWritten {
		c.collectPolicies(ch)
	}
}

// collectPolicies sends the policies' counter families as const metrics,
// for a Collector used without AppendVectors; only the series that counted
// something.
func (c *Collector) collectPolicies(ch chan<- prometheus.Metric) {
	counts := c.snap.Vec(c.srv.PolicyVec())
	c.fams = engine.AppendPolicyFamilies(c.fams[:0])
	for _, f := range c.fams {
		names := []string{"route", "policy"}
		if f.Label != "" {
			names = append(names, f.Label)
		}
		desc := prometheus.NewDesc(f.Name, f.Help, names, nil)
		for _, se := range f.Series {
			for v, value := range f.Values {
				if i := se.Base + v; i < len(counts) && counts[i] != 0 {
					lv := []string{se.Route, se.Policy, value}[:len(names)]
					ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(counts[i]), lv...)
				}
			}
		}
	}
}

// collectVec sends a counter vector: every value of a vector whose values
// were named at registration (a fixed set, such as status classes), and
// only the nonzero series of a vector the config grows (routes × codes).
func (c *Collector) collectVec(ch chan<- prometheus.Metric, d *stats.Desc) {
	values := c.snap.Vec(stats.VecID(d.ID))
	labels, product := c.srv.VecLabels(stats.VecID(d.ID))
	if product && c.handWritten {
		return // AppendVectors writes it
	}
	desc := c.vecs[d.ID]
	if desc == nil {
		names := []string{d.VecLabel}
		if product {
			names = labels.Names
		}
		desc = prometheus.NewDesc(d.Name, d.Help, names, constLabels(d.Labels))
		c.vecs[d.ID] = desc
	}
	var lv []string
	for idx, v := range values {
		switch {
		case product:
			if v == 0 {
				continue
			}
			lv = labels.Values(lv[:0], idx)
		case idx < len(d.VecValues):
			lv = append(lv[:0], d.VecValues[idx])
		default:
			if v == 0 {
				continue
			}
			lv = append(lv[:0], strconv.Itoa(idx))
		}
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), lv...)
	}
}

// collectParts sends what the engine's parts and the access log report.
func (c *Collector) collectParts(ch chan<- prometheus.Metric) {
	srv := c.srv
	snap := srv.Snapshot()
	ch <- prometheus.MustNewConstMetric(descInFlight, prometheus.GaugeValue, float64(srv.InFlight()))
	ch <- prometheus.MustNewConstMetric(descConfigVersion, prometheus.GaugeValue, float64(snap.Version))
	ch <- prometheus.MustNewConstMetric(descBuildInfo, prometheus.GaugeValue, 1, c.version, runtime.Version())
	okAt, failAt, oks, fails := c.reloads.read()
	ch <- prometheus.MustNewConstMetric(descReloadTime, prometheus.GaugeValue, okAt, "success")
	ch <- prometheus.MustNewConstMetric(descReloadTime, prometheus.GaugeValue, failAt, "failure")
	ch <- prometheus.MustNewConstMetric(descReloads, prometheus.CounterValue, float64(oks), "success")
	ch <- prometheus.MustNewConstMetric(descReloads, prometheus.CounterValue, float64(fails), "failure")
	ch <- prometheus.MustNewConstMetric(descWorkers, prometheus.GaugeValue, float64(srv.Metrics().Workers()))

	for _, name := range snap.UpstreamNames() {
		st := snap.Upstream(name).LB().Status()
		ch <- prometheus.MustNewConstMetric(descUpstreamHealthy, prometheus.GaugeValue, float64(st.Healthy), name, "healthy")
		ch <- prometheus.MustNewConstMetric(descUpstreamHealthy, prometheus.GaugeValue, float64(st.Total-st.Healthy), name, "not_healthy")
		ch <- prometheus.MustNewConstMetric(descEjections, prometheus.CounterValue, float64(st.Ejections), name)
		ch <- prometheus.MustNewConstMetric(descEjectRefused, prometheus.CounterValue, float64(st.EjectionsRefused), name)
		for i := range st.Targets {
			t := &st.Targets[i]
			for _, state := range targetStates {
				v := 0.0
				if t.State == state {
					v = 1
				}
				ch <- prometheus.MustNewConstMetric(descTargetHealth, prometheus.GaugeValue, v, name, t.Addr, state)
			}
			ch <- prometheus.MustNewConstMetric(descTargetInFlight, prometheus.GaugeValue, float64(t.InFlight), name, t.Addr)
			ch <- prometheus.MustNewConstMetric(descTargetRequests, prometheus.CounterValue, float64(t.Requests), name, t.Addr)
			ch <- prometheus.MustNewConstMetric(descTargetFailures, prometheus.CounterValue, float64(t.Failures), name, t.Addr)
			ch <- prometheus.MustNewConstMetric(descTargetLatency, prometheus.GaugeValue, t.LatencyEWMAMillis/1000, name, t.Addr)
		}
	}

	if snap.Dicts != nil {
		for _, name := range snap.Dicts.Names() {
			d := snap.Dicts.Dict(name)
			if d == nil {
				continue
			}
			st := d.Stats()
			ch <- prometheus.MustNewConstMetric(descDictCapacity, prometheus.GaugeValue, float64(st.Capacity), name)
			ch <- prometheus.MustNewConstMetric(descDictUsed, prometheus.GaugeValue, float64(st.Used), name)
			ch <- prometheus.MustNewConstMetric(descDictEntries, prometheus.GaugeValue, float64(st.Entries), name)
			ch <- prometheus.MustNewConstMetric(descDictEvictions, prometheus.CounterValue, float64(st.Evictions), name)
			ch <- prometheus.MustNewConstMetric(descDictExpired, prometheus.CounterValue, float64(st.Expired), name)
		}
	}

	if rc := snap.Redis(); rc != nil {
		st := rc.Stats()
		connected := 0.0
		if st.Connected {
			connected = 1
		}
		ch <- prometheus.MustNewConstMetric(descRedisConnected, prometheus.GaugeValue, connected)
		ch <- prometheus.MustNewConstMetric(descRedisCalls, prometheus.CounterValue, float64(st.Calls))
		for _, e := range []struct {
			kind string
			n    uint64
		}{{"unavailable", st.Unavailable}, {"timeout", st.Timeouts}, {"canceled", st.Canceled}, {"reply", st.Replies}, {"closed", st.Closed}} {
			ch <- prometheus.MustNewConstMetric(descRedisErrors, prometheus.CounterValue, float64(e.n), e.kind)
		}
		ch <- prometheus.MustNewConstMetric(descRedisConnects, prometheus.CounterValue, float64(st.ConnectFailures))
	}

	if c.log != nil {
		ch <- prometheus.MustNewConstMetric(descLogLines, prometheus.CounterValue, float64(c.log.Lines()))
		ch <- prometheus.MustNewConstMetric(descLogDropped, prometheus.CounterValue, float64(c.log.Dropped()))
	}
}

var targetStates = []string{lb.StateHealthy, lb.StateDown, lb.StateUnhealthy}

// constLabels turns stats' label pairs into Prometheus constant labels.
func constLabels(pairs []string) prometheus.Labels {
	if len(pairs) == 0 {
		return nil
	}
	l := make(prometheus.Labels, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		l[pairs[i]] = pairs[i+1]
	}
	return l
}

// reloadTimes records reload outcomes (Server.ReloadDone).
type reloadTimes struct {
	mu           sync.Mutex
	okAt, failAt time.Time
	oks, fails   uint64
}

func (r *reloadTimes) record(err error, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		r.okAt, r.oks = now, r.oks+1
	} else {
		r.failAt, r.fails = now, r.fails+1
	}
}

// read returns the times as unix seconds (0 for never) and the counts.
func (r *reloadTimes) read() (okAt, failAt float64, oks, fails uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	unix := func(t time.Time) float64 {
		if t.IsZero() {
			return 0
		}
		return float64(t.UnixNano()) / 1e9
	}
	return unix(r.okAt), unix(r.failAt), r.oks, r.fails
}
