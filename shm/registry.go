package shm

import (
	"fmt"
	"maps"
	"slices"
)

// Registry maps dict names to dicts, as declared in configuration
// (shared_dicts: {limits: 10MiB}). The gateway looks a dict up by name once,
// when it applies a config, and keeps the *Dict.
//
// A Registry is immutable after NewRegistry or Rebuild returns, so it is safe
// for concurrent use without locks.
type Registry struct {
	dicts map[string]*Dict
	opts  []Option
}

// NewRegistry creates one Dict per entry of capacities (name -> bytes; see
// ParseSize for config strings). opts apply to every dict; each also gets
// WithName(name).
func NewRegistry(capacities map[string]int64, opts ...Option) (*Registry, error) {
	return build(nil, capacities, opts)
}

// Rebuild returns a registry for a new configuration. A dict whose name and
// capacity are unchanged is carried over with its contents (the same *Dict),
// as nginx keeps shared zones across reloads; a new or resized dict starts
// empty. r is not modified, and it is reused for the options it was built
// with.
func (r *Registry) Rebuild(capacities map[string]int64) (*Registry, error) {
	return build(r, capacities, r.opts)
}

func build(old *Registry, capacities map[string]int64, opts []Option) (*Registry, error) {
	r := &Registry{dicts: make(map[string]*Dict, len(capacities)), opts: opts}
	for _, name := range slices.Sorted(maps.Keys(capacities)) {
		capacity := capacities[name]
		if name == "" {
			return nil, ErrBadName
		}
		if old != nil {
			if d := old.dicts[name]; d != nil && d.capacity == capacity {
				r.dicts[name] = d
				continue
			}
		}
		d, err := New(capacity, append(slices.Clip(opts), WithName(name))...)
		if err != nil {
			return nil, fmt.Errorf("shared dict %q: %w", name, err)
		}
		r.dicts[name] = d
	}
	return r, nil
}

// Dict returns the dict called name, or nil.
func (r *Registry) Dict(name string) *Dict { return r.dicts[name] }

// Lookup returns the dict called name and whether it exists.
func (r *Registry) Lookup(name string) (*Dict, bool) {
	d, ok := r.dicts[name]
	return d, ok
}

// Names returns the dict names, sorted.
func (r *Registry) Names() []string { return slices.Sorted(maps.Keys(r.dicts)) }
