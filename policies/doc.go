// Package policies holds the policy registry and Sluice's built-in policies.
//
// A policy registers a Factory by name in init(). The engine's compiler calls
// Build for every policy spec of a route (global ones first), once per config
// version; the factory validates the spec's config and returns an
// engine.Policy whose Install adds handlers to the phases it needs. Handlers
// run on event loops: they must not block, and per-request state goes in
// the context's slots, never in maps.
package policies
