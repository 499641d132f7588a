package policies

import (
	"fmt"
	"reflect"
	"sort"
	"sync"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
)

// Factory validates a policy's config and builds the policy.
type Factory func(spec config.PolicySpec, env *engine.Env) (engine.Policy, error)

// registration is one registered policy: its factory and the type its
// config decodes into (nil for a policy registered without one).
type registration struct {
	build      Factory
	configType reflect.Type
}

var (
	mu       sync.RWMutex
	registry = map[string]registration{}
)

// RegisterConfig makes a policy available by name, with the type of its
// config: config is a zero value of the struct the factory decodes the
// spec's config into (config.DecodePolicyConfig), and Schema publishes its
// JSON Schema. Every built-in policy registers this way. It panics on a
// duplicate name or a config that is not a struct: registration happens in
// init(), where both are programming errors.
func RegisterConfig(name string, config any, f Factory) {
	t := reflect.TypeOf(config)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		panic(fmt.Sprintf("policies: %s: the config of a policy must be a struct, got %T", name, config))
	}
	register(name, registration{build: f, configType: t})
}

// Register makes a policy available by name without a published config
// type (Schema reports false for it): for policies that tests define.
// Built-in policies use RegisterConfig. It panics on a duplicate name.
func Register(name string, f Factory) { register(name, registration{build: f}) }

func register(name string, r registration) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[name]; dup {
		panic("policies: duplicate registration of " + name)
	}
	registry[name] = r
}

// Build builds the policy a spec names; an unknown name is an error that
// says where the spec is and which names exist. It is an engine.PolicyFactory.
func Build(spec config.PolicySpec, env *engine.Env) (engine.Policy, error) {
	mu.RLock()
	r, ok := registry[spec.Name]
	mu.RUnlock()
	if !ok {
		return nil, config.SpecError(spec, "name", fmt.Sprintf("unknown policy %q (known: %v)", spec.Name, Names()))
	}
	return r.build(spec, env)
}

// Names lists the registered policies, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// configTypeOf is the registered config type of a policy, or nil.
func configTypeOf(name string) reflect.Type {
	mu.RLock()
	defer mu.RUnlock()
	return registry[name].configType
}

var _ engine.PolicyFactory = Build
