// Package config is Sluice's declarative model: the Go types a gateway's
// configuration decodes into, strict YAML loading, defaults and validation.
//
// Loading is strict. Every key must name a field, every value must have the
// field's type and range, and every problem is reported with the file, the line
// and the path of the offending value, all problems at once:
//
//	sluice.yaml:7: upstreams[0].targets[1].weight: must be between 1 and 1000, got 0
//	sluice.yaml:14: routes[2].upstream: unknown upstream "users"
//
// The YAML is parsed into a yaml.Node tree by go.yaml.in/yaml/v3 and then
// walked by this package's own decoder rather than by yaml's Decode: yaml's
// strict mode reports an unknown field with a line but without its path, stops
// at the first type error of a kind, and cannot tell an absent key from an
// explicit zero. The walker keeps the path and line of every value it sets, so
// Validate can name both for errors found after decoding.
//
// Policies carry free-form configuration: a PolicySpec keeps its config as a
// yaml.Node, and the policy's factory decodes it with DecodePolicyConfig, which
// applies the same strict rules and error format, and reports its own range
// errors with FieldError.
//
// A *Config is a plain value: nothing in it is safe for concurrent mutation.
// The engine validates a Config once, compiles it into an immutable snapshot
// and never changes it afterwards; concurrent readers of a Config that nobody
// mutates are safe.
package config
