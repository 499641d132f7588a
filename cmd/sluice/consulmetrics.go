package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-gw/sluice/discovery"
	"github.com/sluice-gw/sluice/fleet"
)

// consulCollector exposes the Consul sources on /metrics, read from their
// owners' status at scrape time: each discovery source's state, last
// success, staleness and counters, and the fleet source's.
type consulCollector struct {
	disc  *discovery.Manager
	fleet *fleet.Source

	up, lastOK, stale, requests, failures, changes, targets *prometheus.Desc
	fleetUp, fleetApplied, fleetRefused, fleetConflicts     *prometheus.Desc
}

func newConsulCollector(disc *discovery.Manager, fs *fleet.Source) *consulCollector {
	src := []string{"source"}
	return &consulCollector{
		disc: disc, fleet: fs,
		up:       prometheus.NewDesc("sluice_discovery_source_up", "1 while the source's last query succeeded (state ok), 0 while starting, serving its dump or failing.", append(src, "state"), nil),
		lastOK:   prometheus.NewDesc("sluice_discovery_source_last_success_timestamp_seconds", "Unix time of the source's last successful query; 0 before the first.", src, nil),
		stale:    prometheus.NewDesc("sluice_discovery_source_staleness_seconds", "Seconds since the last success while the source is not ok; 0 while ok.", src, nil),
		requests: prometheus.NewDesc("sluice_discovery_source_requests_total", "Queries to Consul.", src, nil),
		failures: prometheus.NewDesc("sluice_discovery_source_failures_total", "Queries to Consul that failed.", src, nil),
		changes:  prometheus.NewDesc("sluice_discovery_source_changes_total", "Answers that changed the source's targets.", src, nil),
		targets:  prometheus.NewDesc("sluice_discovery_source_targets", "Targets of the source's last known good answer, down and backup ones included.", src, nil),
		fleetUp: prometheus.NewDesc("sluice_fleet_up", "1 while the node runs the fleet's latest configuration from Consul (state ok), 0 otherwise.",
			[]string{"prefix", "state"}, nil),
		fleetApplied:   prometheus.NewDesc("sluice_fleet_changes_applied_total", "Fleet changes from Consul put in force.", []string{"prefix"}, nil),
		fleetRefused:   prometheus.NewDesc("sluice_fleet_changes_refused_total", "Fleet configurations from Consul this node refused.", []string{"prefix"}, nil),
		fleetConflicts: prometheus.NewDesc("sluice_fleet_write_conflicts_total", "Admin API writes refused because another node changed a key first.", []string{"prefix"}, nil),
	}
}

func (c *consulCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.lastOK, c.stale, c.requests, c.failures, c.changes, c.targets,
		c.fleetUp, c.fleetApplied, c.fleetRefused, c.fleetConflicts} {
		ch <- d
	}
}

func (c *consulCollector) Collect(ch chan<- prometheus.Metric) {
	gauge, counter := prometheus.GaugeValue, prometheus.CounterValue
	for _, s := range c.disc.Status().Sources {
		up := 0.0
		if s.State == discovery.StateOK {
			up = 1
		}
		last := 0.0
		if !s.LastSuccess.IsZero() {
			last = float64(s.LastSuccess.UnixNano()) / 1e9
		}
		ch <- prometheus.MustNewConstMetric(c.up, gauge, up, s.Source, s.State)
		ch <- prometheus.MustNewConstMetric(c.lastOK, gauge, last, s.Source)
		ch <- prometheus.MustNewConstMetric(c.stale, gauge, s.StalenessSeconds, s.Source)
		ch <- prometheus.MustNewConstMetric(c.requests, counter, float64(s.Requests), s.Source)
		ch <- prometheus.MustNewConstMetric(c.failures, counter, float64(s.Failures), s.Source)
		ch <- prometheus.MustNewConstMetric(c.changes, counter, float64(s.Changes), s.Source)
		ch <- prometheus.MustNewConstMetric(c.targets, gauge, float64(len(s.Targets)), s.Source)
	}
	if c.fleet != nil {
		st := c.fleet.Status()
		up := 0.0
		if st.State == fleet.StateOK {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(c.fleetUp, gauge, up, st.Prefix, st.State)
		ch <- prometheus.MustNewConstMetric(c.fleetApplied, counter, float64(st.Applied), st.Prefix)
		ch <- prometheus.MustNewConstMetric(c.fleetRefused, counter, float64(st.Refused), st.Prefix)
		ch <- prometheus.MustNewConstMetric(c.fleetConflicts, counter, float64(st.Conflicts), st.Prefix)
	}
}
