// Package policies holds the policy registry and Sluice's built-in policies.
//
// A policy registers a Factory by name in init(), with the type of its
// config (RegisterConfig), whose JSON Schema Schema publishes. The engine's
// compiler calls Build for every policy spec of a route (global ones
// first), once per config version; the factory validates the spec's config
// strictly (config.DecodePolicyConfig, errors through config.FieldError)
// and returns an engine.Policy whose Install adds handlers to the phases it
// needs. Handlers run on event loops: they must not block, and per-request
// state goes in the context's keys (ChainBuilder.PrivateInt,
// engine.NewPrivateKey), never in maps.
//
// Priorities (higher runs first within a phase):
//
//	request-id        3000  rewrite (set the id), header_filter (echo)
//	cors              2000  access (preflights), header_filter (fields)
//	headers           1000  rewrite, header_filter
//	limit-count        900  access, header_filter
//	response-rewrite  -500  header_filter, body_filter (last word on the response)
//	response         -1000  access (answers after every check)
package policies
