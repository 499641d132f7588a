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
// Each target carries nginx's server parameters in its TargetSpec, the
// ones nginx-upsync keeps in Consul KV ({"weight":1, "max_fails":2,
// "fail_timeout":10, "down":0, "backup":0}):
//
//   - Weight: the share of weighted balancers;
//   - Down: drained by the operator. The target stays listed (Snapshot,
//     Status with state "admin_down") but is never picked and never probed,
//     and counts neither as healthy nor as unhealthy: MaxEjectedPercent and
//     the panic threshold are shares of the targets in rotation, so draining
//     targets never starts panic mode. With the Hash balancer a drained
//     target keeps its Maglev slots, so only its own keys move, to where
//     an ejection would send them;
//   - Backup: picked only when no primary can be: every primary is down by
//     health or drained, or already tried by the request (nginx's order).
//     Backups are balanced among themselves by the upstream's balancer.
//     The Hash balancer refuses backups (an Update error wrapping
//     ErrConfig), as nginx refuses "backup" with "hash": a key's target must
//     not depend on the health of another;
//   - MaxFails, FailTimeout: the target's own max_fails and fail_timeout;
//     0 uses the upstream's Passive values, MaxFails -1 turns the rule off
//     for the target.
//
// Panic mode and backups: the panic threshold applies to the primaries, and
// backups come before panic, as in nginx they come before "all failed".
// While some backup is healthy the primaries never panic: the healthy
// primaries are used while there is one, then the healthy backups. With no
// healthy backup (or none configured) the primaries panic below the
// threshold as they always did; with nothing healthy at all, panic mode is
// Config.PanicWhenAllDown, over the primaries and then the backups.
//
// Update applies new parameters to the targets whose address stays without
// touching their health or counters. The pick path is unchanged in cost:
// the snapshot splits its targets into a primary and a backup tier, drained
// targets left out (out of the Maglev table's lookups for Hash), so Pick
// runs the balancer over the primary tier as it ran over all targets, and
// reaches the backups only when that finds nothing.
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
