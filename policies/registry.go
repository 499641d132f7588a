package policies

import (
	"fmt"
	"sort"
	"sync"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
)

// Factory validates a policy's config and builds the policy.
type Factory func(spec config.PolicySpec, env *engine.Env) (engine.Policy, error)

var (
	mu        sync.RWMutex
	factories = map[string]Factory{}
)

// Register makes a policy available by name. It panics on a duplicate name:
// registration happens in init(), where that is a programming error.
func Register(name string, f Factory) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := factories[name]; dup {
		panic("policies: duplicate registration of " + name)
	}
	factories[name] = f
}

// Build builds the policy a spec names; an unknown name is an error that
// says where the spec is and which names exist. It is an engine.PolicyFactory.
func Build(spec config.PolicySpec, env *engine.Env) (engine.Policy, error) {
	mu.RLock()
	f := factories[spec.Name]
	mu.RUnlock()
	if f == nil {
		return nil, fmt.Errorf("%s.name: unknown policy %q (known: %v)", where(spec), spec.Name, Names())
	}
	return f(spec, env)
}

// Names lists the registered policies, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	names := make([]string, 0, len(factories))
	for n := range factories {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func where(spec config.PolicySpec) string {
	if spec.File != "" && spec.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", spec.File, spec.Line, spec.Path)
	}
	if spec.Path != "" {
		return spec.Path
	}
	return "policy " + spec.Name
}

var _ engine.PolicyFactory = Build
