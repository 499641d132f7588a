package admin

import (
	"math"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/lb"
	"github.com/sluice-gw/sluice/stats"
)

// Collector writes the gateway's families in the Prometheus text format
// (AppendText): the engine's per-worker metric set (package stats), summed
// at scrape time, plus what the engine's parts report about themselves —
// upstream targets, shared dicts, the Redis client — and the access log.
//
// It writes them by hand rather than through client_golang's const
// metrics: those cost an allocation or more per series and per label
// (checked, converted, sorted, then encoded), which for a one-route
// gateway was about a thousand allocations per scrape, and for 10,000
// routes × 5 codes about 150 ms of CPU and 40 MB of garbage. Appending the
// lines to a reused buffer allocates little beyond the parts' own status
// reports. Scrapes are serialized by its mutex, which only scrapes take;
// they reuse one stats.Snapshot, so summing the workers allocates nothing
// once warm. Safe for concurrent use.
type Collector struct {
	srv     *engine.Server
	log     LogStats
	version string

	reloads reloadTimes

	mu       sync.Mutex
	snap     stats.Snapshot
	hist     stats.HistogramValue
	families [][]int                         // the metric set's desc indexes by family name, in first-seen order
	fams     []engine.PolicyFamily           // reused by every scrape
	lv       []string                        // label values of the sample being written
	names    []string                        // label names of the family being written
	ups      []lb.UpstreamStatus             // reused by every scrape
	prefixes map[stats.VecID]*seriesPrefixes // vectors.go
	counted  []int32                         // the indexes of the vector being written that counted something
	marks    []textMark                      // where the text being written can be cut (appendText)
}

// NewCollector returns a collector for srv; log may be nil.
func NewCollector(srv *engine.Server, log LogStats, version string) *Collector {
	return &Collector{srv: srv, log: log, version: version}
}

// family is a family the collector adds to the engine's own set.
type family struct{ name, help, typ string }

func fam(name, help, typ string) family {
	ownNames = append(ownNames, name)
	return family{name, help, typ}
}

// ownNames are the names of the collector's own families: policies may not
// declare them (engine.ReserveMetricNames).
var ownNames []string

func init() { engine.ReserveMetricNames(ownNames...) }

// The families the collector adds to the engine's own set.
var (
	famInFlight        = fam("sluice_requests_in_flight", "Requests being served now.", "gauge")
	famConfigVersion   = fam("sluice_config_version", "Version of the config in force (1 for the first, +1 per accepted change).", "gauge")
	famBuildInfo       = fam("sluice_build_info", "The gateway's build, as labels; the value is 1.", "gauge")
	famWorkers         = fam("sluice_workers", "Event loops (workers).", "gauge")
	famStatsDropped    = fam("sluice_metrics_dropped_writes_total", "Metric writes dropped for a series index not grown yet (an engine bug when not 0).", "counter")
	famSeriesOverflow  = fam("sluice_metrics_series_overflow_total", "Route, upstream or consumer names, or policy series, counted in an (overflow) series because their vector's series cap was reached.", "counter")
	famTargetHealth    = fam("sluice_upstream_target_health", "1 for the target's health state, 0 for the others (healthy, down: passive checks or ejection, unhealthy: active probes).", "gauge")
	famTargetInFlight  = fam("sluice_upstream_target_in_flight", "Requests in flight to the target.", "gauge")
	famTargetRequests  = fam("sluice_upstream_target_requests_total", "Attempts that ended on the target.", "counter")
	famTargetFailures  = fam("sluice_upstream_target_failures_total", "Failed attempts on the target.", "counter")
	famTargetLatency   = fam("sluice_upstream_target_latency_ewma_seconds", "The target's latency EWMA.", "gauge")
	famUpstreamHealthy = fam("sluice_upstream_targets", "Targets of the upstream, by whether they are healthy.", "gauge")
	famEjections       = fam("sluice_upstream_ejections_total", "Targets ejected by outlier detection.", "counter")
	famEjectRefused    = fam("sluice_upstream_ejections_refused_total", "Ejections refused by the max-ejected share.", "counter")
	famDictCapacity    = fam("sluice_shared_dict_capacity_bytes", "The shared dict's byte capacity.", "gauge")
	famDictUsed        = fam("sluice_shared_dict_used_bytes", "Bytes counted against the shared dict's capacity.", "gauge")
	famDictEntries     = fam("sluice_shared_dict_entries", "Entries stored (expired ones not yet removed included).", "gauge")
	famDictEvictions   = fam("sluice_shared_dict_evictions_total", "Entries evicted to make room.", "counter")
	famDictExpired     = fam("sluice_shared_dict_expired_total", "Expired entries removed.", "counter")
	famRedisConnected  = fam("sluice_redis_connected", "1 when the Redis client's first connection succeeded (reachable at least once), else 0.", "gauge")
	famRedisReachable  = fam("sluice_redis_reachable", "1 while Redis answers: the workers' own connections (standalone, no TLS) got replies to their last calls; in cluster and sentinel modes or with TLS, as sluice_redis_connected.", "gauge")
	famRedisCalls      = fam("sluice_redis_calls_total", "Redis calls made, failed ones included.", "counter")
	famRedisErrors     = fam("sluice_redis_errors_total", "Redis calls that failed, by kind.", "counter")
	famRedisConnects   = fam("sluice_redis_connect_failures_total", "Failed background connects to Redis.", "counter")
	famReloadTime      = fam("sluice_config_last_reload_timestamp_seconds", "When the last reload was accepted (result=success) or refused (result=failure), unix seconds; 0 for none yet.", "gauge")
	famReloads         = fam("sluice_config_reloads_total", "Config reloads, by result.", "counter")
	famLogLines        = fam("sluice_access_log_lines_total", "Access-log lines written.", "counter")
	famLogDropped      = fam("sluice_access_log_dropped_total", "Access-log lines dropped because the writer fell behind.", "counter")
)

// AppendText appends every family the collector has, in the text format
// (0.0.4): the engine's set (its product vectors and the policies'
// families only with the series that counted something), then the parts'.
func (c *Collector) AppendText(dst []byte) []byte { return c.appendText(dst, nil) }

// appendText is AppendText that also sets *marks, if marks is not nil, to
// where the text can be cut into segments that keep their keys from scrape
// to scrape (for segmentedGzip): the families before the product vectors,
// each span of segmentIndexes indexes of a product vector, and what follows
// them. Offsets are dst's.
func (c *Collector) appendText(dst []byte, marks *[]textMark) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.marks = append(c.marks[:0], textMark{key: 0, off: len(dst)})
	dst = c.appendEngine(dst)
	dst = c.appendVectors(dst)
	c.marks = append(c.marks, textMark{key: tailKey, off: len(dst)})
	dst = c.appendPolicies(dst)
	dst = c.appendParts(dst)
	if marks != nil {
		*marks = append((*marks)[:0], c.marks...)
	}
	return dst
}

// appendEngine appends the metric set's families but its product vectors
// and the policies' vector.
func (c *Collector) appendEngine(dst []byte) []byte {
	set := c.srv.Metrics()
	set.Snapshot(&c.snap)
	descs := set.Descs()
	if c.families == nil {
		c.families = groupFamilies(descs)
	}
	for _, f := range c.families {
		d0 := &descs[f[0]]
		if d0.Kind == stats.KindCounterVec {
			if _, product := c.srv.VecLabels(stats.VecID(d0.ID)); product || stats.VecID(d0.ID) == c.srv.PolicyVec() {
				continue // appendVectors, appendPolicies
			}
		}
		dst = appendHeader(dst, d0.Name, d0.Help, kindType(d0.Kind))
		for _, i := range f {
			dst = c.appendDesc(dst, &descs[i])
		}
		if d0.Name == "sluice_client_connections_by_state" {
			_, idle := c.srv.ConnStates()
			dst = appendInt(appendSeries(dst, d0.Name, nil, nil, []string{"state", "idle"}), idle)
		}
	}
	dst = appendUint(appendFamily(dst, famStatsDropped), c.snap.Dropped())
	of := engine.SeriesOverflow()
	dst = appendHeader(dst, famSeriesOverflow.name, famSeriesOverflow.help, famSeriesOverflow.typ)
	for _, v := range []struct {
		vector string
		n      uint64
	}{{"route", of.Routes}, {"upstream", of.Upstreams}, {"consumer", of.Consumers}, {"policy", of.Policies}} {
		dst = appendUint(appendSeries(dst, famSeriesOverflow.name, nil, nil, []string{"vector", v.vector}), v.n)
	}
	return dst
}

// groupFamilies lists the descs' indexes by name, in first-seen order: a
// family (connections by state) may be several descs with constant labels.
func groupFamilies(descs []stats.Desc) [][]int {
	var out [][]int
	at := map[string]int{}
	for i := range descs {
		j, ok := at[descs[i].Name]
		if !ok {
			j = len(out)
			at[descs[i].Name] = j
			out = append(out, nil)
		}
		out[j] = append(out[j], i)
	}
	return out
}

func kindType(k stats.Kind) string {
	switch k {
	case stats.KindGauge:
		return "gauge"
	case stats.KindHistogram:
		return "histogram"
	}
	return "counter"
}

// appendDesc appends the samples of one desc of the metric set.
func (c *Collector) appendDesc(dst []byte, d *stats.Desc) []byte {
	switch d.Kind {
	case stats.KindCounter:
		return appendUint(appendSeries(dst, d.Name, nil, nil, d.Labels), c.snap.Counter(stats.CounterID(d.ID)))
	case stats.KindGauge:
		return appendInt(appendSeries(dst, d.Name, nil, nil, d.Labels), c.snap.Gauge(stats.GaugeID(d.ID)))
	case stats.KindHistogram:
		c.snap.Histogram(stats.HistogramID(d.ID), &c.hist)
		bucket, le := d.Name+"_bucket", []string{"le"}
		for j, b := range c.hist.Bounds {
			c.lv = append(c.lv[:0], formatFloat(b))
			dst = appendUint(appendSeries(dst, bucket, le, c.lv, d.Labels), c.hist.Buckets[j])
		}
		c.lv = append(c.lv[:0], "+Inf")
		dst = appendUint(appendSeries(dst, bucket, le, c.lv, d.Labels), c.hist.Count)
		dst = appendFloat(appendSeries(dst, d.Name+"_sum", nil, nil, d.Labels), c.hist.Sum)
		return appendUint(appendSeries(dst, d.Name+"_count", nil, nil, d.Labels), c.hist.Count)
	case stats.KindCounterVec:
		// A vector whose values were named at registration (a fixed set,
		// such as status classes): every value; past them, the nonzero.
		names := []string{d.VecLabel}
		for idx, v := range c.snap.Vec(stats.VecID(d.ID)) {
			switch {
			case idx < len(d.VecValues):
				c.lv = append(c.lv[:0], d.VecValues[idx])
			case v == 0:
				continue
			default:
				c.lv = append(c.lv[:0], strconv.Itoa(idx))
			}
			dst = appendUint(appendSeries(dst, d.Name, names, c.lv, d.Labels), v)
		}
	}
	return dst
}

// appendParts appends what the engine's parts and the access log report.
func (c *Collector) appendParts(dst []byte) []byte {
	srv := c.srv
	snap := srv.Snapshot()
	dst = appendInt(appendFamily(dst, famInFlight), srv.InFlight())
	dst = appendUint(appendFamily(dst, famConfigVersion), snap.Version)
	dst = appendHeader(dst, famBuildInfo.name, famBuildInfo.help, famBuildInfo.typ)
	dst = appendUint(appendSeries(dst, famBuildInfo.name, nil, nil, []string{"version", c.version, "goversion", runtime.Version()}), 1)
	okAt, failAt, oks, fails := c.reloads.read()
	dst = appendHeader(dst, famReloadTime.name, famReloadTime.help, famReloadTime.typ)
	dst = appendFloat(appendSeries(dst, famReloadTime.name, nil, nil, []string{"result", "success"}), okAt)
	dst = appendFloat(appendSeries(dst, famReloadTime.name, nil, nil, []string{"result", "failure"}), failAt)
	dst = appendHeader(dst, famReloads.name, famReloads.help, famReloads.typ)
	dst = appendUint(appendSeries(dst, famReloads.name, nil, nil, []string{"result", "success"}), oks)
	dst = appendUint(appendSeries(dst, famReloads.name, nil, nil, []string{"result", "failure"}), fails)
	dst = appendInt(appendFamily(dst, famWorkers), int64(srv.Metrics().Workers()))

	c.ups = c.ups[:0]
	for _, name := range snap.UpstreamNames() {
		c.ups = append(c.ups, snap.Upstream(name).LB().Status())
	}
	dst = c.appendUpstreams(dst)
	c.ups = c.ups[:0]

	if snap.Dicts != nil {
		var st []dictStats
		for _, name := range snap.Dicts.Names() {
			if d := snap.Dicts.Dict(name); d != nil {
				s := d.Stats()
				st = append(st, dictStats{name, []uint64{uint64(s.Capacity), uint64(s.Used), uint64(s.Entries), s.Evictions, s.Expired}})
			}
		}
		for i, f := range []family{famDictCapacity, famDictUsed, famDictEntries, famDictEvictions, famDictExpired} {
			if len(st) == 0 {
				break
			}
			dst = appendHeader(dst, f.name, f.help, f.typ)
			for _, d := range st {
				dst = appendUint(appendSeries(dst, f.name, nil, nil, []string{"dict", d.name}), d.values[i])
			}
		}
	}

	if rc := snap.Redis(); rc != nil {
		st := rc.Stats()
		connected := uint64(0)
		if st.Connected {
			connected = 1
		}
		dst = appendUint(appendFamily(dst, famRedisConnected), connected)
		reachable := uint64(0)
		if st.Reachable {
			reachable = 1
		}
		dst = appendUint(appendFamily(dst, famRedisReachable), reachable)
		dst = appendUint(appendFamily(dst, famRedisCalls), st.Calls)
		dst = appendHeader(dst, famRedisErrors.name, famRedisErrors.help, famRedisErrors.typ)
		for _, e := range []struct {
			kind string
			n    uint64
		}{{"unavailable", st.Unavailable}, {"timeout", st.Timeouts}, {"canceled", st.Canceled}, {"reply", st.Replies}, {"closed", st.Closed}} {
			dst = appendUint(appendSeries(dst, famRedisErrors.name, nil, nil, []string{"kind", e.kind}), e.n)
		}
		dst = appendUint(appendFamily(dst, famRedisConnects), st.ConnectFailures)
	}

	if c.log != nil {
		dst = appendUint(appendFamily(dst, famLogLines), c.log.Lines())
		dst = appendUint(appendFamily(dst, famLogDropped), c.log.Dropped())
	}
	return dst
}

type dictStats struct {
	name   string
	values []uint64 // capacity, used, entries, evictions, expired
}

// appendUpstreams appends the upstream and target families of c.ups.
func (c *Collector) appendUpstreams(dst []byte) []byte {
	if len(c.ups) == 0 {
		return dst
	}
	f := famUpstreamHealthy
	dst = appendHeader(dst, f.name, f.help, f.typ)
	for i := range c.ups {
		st := &c.ups[i]
		dst = appendInt(appendSeries(dst, f.name, nil, nil, []string{"upstream", st.Name, "state", "healthy"}), int64(st.Healthy))
		dst = appendInt(appendSeries(dst, f.name, nil, nil, []string{"upstream", st.Name, "state", "not_healthy"}), int64(st.Total-st.Healthy))
	}
	for _, f := range []family{famEjections, famEjectRefused} {
		dst = appendHeader(dst, f.name, f.help, f.typ)
		for i := range c.ups {
			st := &c.ups[i]
			n := st.Ejections
			if f == famEjectRefused {
				n = st.EjectionsRefused
			}
			dst = appendUint(appendSeries(dst, f.name, nil, nil, []string{"upstream", st.Name}), n)
		}
	}
	f = famTargetHealth
	dst = appendHeader(dst, f.name, f.help, f.typ)
	for i := range c.ups {
		for _, t := range c.ups[i].Targets {
			for _, state := range targetStates {
				v := uint64(0)
				if t.State == state {
					v = 1
				}
				dst = appendUint(appendSeries(dst, f.name, nil, nil, []string{"upstream", c.ups[i].Name, "target", t.Addr, "state", state}), v)
			}
		}
	}
	for _, f := range []family{famTargetInFlight, famTargetRequests, famTargetFailures, famTargetLatency} {
		dst = appendHeader(dst, f.name, f.help, f.typ)
		for i := range c.ups {
			for _, t := range c.ups[i].Targets {
				dst = appendSeries(dst, f.name, nil, nil, []string{"upstream", c.ups[i].Name, "target", t.Addr})
				switch f {
				case famTargetInFlight:
					dst = appendInt(dst, t.InFlight)
				case famTargetRequests:
					dst = appendUint(dst, t.Requests)
				case famTargetFailures:
					dst = appendUint(dst, t.Failures)
				default:
					dst = appendFloat(dst, t.LatencyEWMAMillis/1000)
				}
			}
		}
	}
	return dst
}

var targetStates = []string{lb.StateHealthy, lb.StateDown, lb.StateUnhealthy}

// appendFamily appends the header of a family of one series without
// labels, and the series' name: its value follows.
func appendFamily(dst []byte, f family) []byte {
	dst = appendHeader(dst, f.name, f.help, f.typ)
	return appendSeries(dst, f.name, nil, nil, nil)
}

// formatFloat formats a float as the text format does (expfmt).
func formatFloat(v float64) string {
	return string(appendFloatValue(nil, v))
}

func appendFloatValue(dst []byte, v float64) []byte {
	switch {
	case math.IsInf(v, 1):
		return append(dst, "+Inf"...)
	case math.IsInf(v, -1):
		return append(dst, "-Inf"...)
	case math.IsNaN(v):
		return append(dst, "NaN"...)
	}
	return strconv.AppendFloat(dst, v, 'g', -1, 64)
}

func appendFloat(dst []byte, v float64) []byte { return append(appendFloatValue(dst, v), '\n') }
func appendUint(dst []byte, v uint64) []byte   { return append(strconv.AppendUint(dst, v, 10), '\n') }
func appendInt(dst []byte, v int64) []byte     { return append(strconv.AppendInt(dst, v, 10), '\n') }

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
