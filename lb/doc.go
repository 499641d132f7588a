// Package lb holds the targets of each upstream, the balancers that pick
// among them, their health (passive, outlier ejection, active probes, panic
// mode) and the retry policy with its budget.
//
// The shape follows the worker model of the engine. An Upstream publishes an
// immutable Snapshot of its targets through an atomic pointer; Update builds
// the next one (from static config now, from discovery later) and hands every
// address that stays the same *Target, so health, in-flight counts and
// latency survive. Each event loop owns a Picker: its round-robin cursors and
// random state are its own, so Pick takes no lock, reads one atomic pointer
// and a few atomic counters, and allocates nothing. Health lives on the
// Target in atomics that the pick path only loads:
//
//   - passive: Target.End applies nginx's max_fails within fail_timeout and
//     Envoy's consecutive 5xx / gateway-error ejection, capped by a maximum
//     ejected share;
//   - active: HTTP or TCP probes on goroutines (StartHealthChecks, CheckNow)
//     with healthy/unhealthy thresholds;
//   - panic mode: below a healthy share every target is used, rather than
//     overloading the few left or failing everything.
//
// A request runs, on its worker:
//
//	u.RecordRequest()
//	var tried lb.Tried
//	for attempt := 1; ; attempt++ {
//		t, err := picker.Pick(key, &tried) // ErrAllDown: 503, ErrNoTarget: 502
//		t.Begin()
//		... the attempt, bounded by u.PerTryTimeout() ...
//		t.End(outcome)
//		tried.Add(t)
//		if !u.ShouldRetry(method, attempt, outcome) { break }
//	}
//
// Time comes from Config.Clock, so tests drive every health decision.
//
// Balancers: smooth weighted round-robin (nginx), weighted least-connections
// (nginx), consistent hashing on a weighted Maglev table (xxhash), peak-EWMA
// latency (Finagle, Linkerd) and power of two random choices. Maglev rather
// than a ketama ring because a lookup is one modulo and one load whatever
// the number of targets, and it moves close to the minimal share of keys
// when a target joins or leaves (see BENCHMARKS.md for the measured shares).
package lb
