package discovery

import "errors"

var (
	// ErrRequired: a source marked required (discovery.required) got no
	// answer from Consul within consul.start_timeout at start.
	ErrRequired = errors.New("discovery: a required source got no answer from Consul")
	// ErrNoConsul: a config has discovery upstreams but no consul section
	// (Validate refuses it; a Config built in Go may not).
	ErrNoConsul = errors.New("discovery: no consul section")
	// ErrBadValue: a KV value or a catalog entry does not describe a
	// target; the key or instance is skipped and counted.
	ErrBadValue = errors.New("discovery: bad target")
	// ErrClosed: the Manager was closed.
	ErrClosed = errors.New("discovery: manager closed")
)
