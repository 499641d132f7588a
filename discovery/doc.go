// Package discovery keeps upstreams' targets in step with Consul, without a
// reload: the Consul catalog (the passing instances of a service) and Consul
// KV in nginx-upsync's layout, so that a fleet moves from nginx-upsync to
// Sluice without touching Consul. It owns the watches (blocking queries),
// the parsing of what Consul answers into targets, the last known good
// targets of every source, their dump on disk, and the status of every
// source. Package lb owns the targets themselves (health, pools, in-flight);
// package config owns the consul and discovery sections.
//
// One watch per KV prefix or service (with its tag and filter) per process,
// shared by every upstream that names it. A watch is one goroutine running
// Consul's blocking queries by its rules: index and wait; an index that goes
// backwards is reset to 0 (one non-blocking query), and so is the index
// after a failed query (Consul may be back restarted, with a smaller index);
// an index Consul returns is never used as 0 (0 becomes 1); a token bucket caps the queries of the loop
// whatever Consul answers; while Consul fails, retries back off
// exponentially, with jitter, up to a cap.
//
// An answer that changes a source's targets rebuilds the target snapshot of
// every upstream using it with lb.Upstream.Update, on the watch's goroutine,
// never on an event loop: targets that stay keep their health, pools and
// in-flight counts; the request path is unchanged (it reads the snapshot it
// always read). An answer that would leave an upstream with no target is
// refused (the last known good targets stay) unless the upstream's
// discovery says allow_empty. While Consul fails, the last known good
// targets stay.
//
// Every target reaches lb with nginx's server parameters: a target marked
// down stays listed but is never picked or probed (lb's admin-down); a
// backup target is picked only when no primary can be, by health as nginx
// does (the hash balancer takes no backups: for it they are used, as
// primaries, only while the source lists no primary that is not down);
// max_fails and fail_timeout are the target's own (upsync's defaults, 2 and
// 10 s, when the source gives none; 0 turns the rule off). An answer whose
// every target is down counts as empty.
//
// The engine's Compiler builds the lb groups from the config's static
// targets. The binary therefore calls Prepare on each config before
// compiling it (discovery upstreams get the last known targets as their
// static targets) and Bind after (the latest targets are applied again to
// whatever groups the compile made or kept), so a reload neither empties nor
// rewinds a discovered upstream.
package discovery
