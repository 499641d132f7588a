package config

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// A fleet: many gateways sharing one configuration kept in Consul KV
// (package fleet watches it). Each node's own file keeps what is the
// node's (where it listens, its workers, its admin listener, its logs, the
// Consul agent) and names the KV prefix in config_source; the prefix holds
// the rest, one key per resource, as the Admin API edits them:
//
//	PREFIX/config           client, shared_dicts, redis, global_policies (YAML or JSON)
//	PREFIX/routes/NAME      one route, as PUT /routes/NAME takes it
//	PREFIX/upstreams/NAME   one upstream
//	PREFIX/consumers/NAME   one consumer
//
// One key per resource keeps a change small (a write of one route is one
// key) and under Consul's value size limit (512 KiB by default) however
// many routes there are.

// Config source types accepted by ConfigSource.Type.
const (
	SourceFile   = "file"   // this file holds the whole configuration
	SourceConsul = "consul" // the fleet part comes from Consul KV
)

// ConfigSource is the top-level "config_source:" section.
type ConfigSource struct {
	// Type is "file" (the default: the file holds everything) or "consul"
	// (the fleet part comes from Consul KV, under Prefix; needs the consul
	// section).
	Type string `yaml:"type"`
	// Prefix is the KV prefix of the fleet's configuration, without
	// leading or trailing slash ("sluice/fleet"). Required by consul.
	Prefix string `yaml:"prefix,omitempty"`
	// Required makes the start fail when Consul cannot be reached within
	// consul.start_timeout, instead of starting from the last configuration
	// this node ran (dumped in consul.dump_dir). Default false.
	Required bool `yaml:"required,omitempty"`
}

// Fleet reports whether the fleet part of c comes from Consul.
func (c *Config) Fleet() bool { return c.ConfigSource.Type == SourceConsul }

// fleetShared is what the PREFIX/config key may hold.
type fleetShared struct {
	Client         Client          `yaml:"client"`
	SharedDicts    map[string]Size `yaml:"shared_dicts,omitempty"`
	Redis          *Redis          `yaml:"redis,omitempty"`
	GlobalPolicies []PolicySpec    `yaml:"global_policies,omitempty"`
}

func (v *validator) configSource(c *Config) {
	s := &c.ConfigSource
	v.oneOf("config_source.type", &s.Type, SourceFile, SourceFile, SourceConsul)
	if s.Type != SourceConsul {
		if s.Prefix != "" {
			v.errf("config_source.prefix", "is only used by type consul")
		}
		return
	}
	if c.Consul == nil {
		v.errf("config_source", "needs the top-level consul section (consul: {address: 127.0.0.1:8500})")
	}
	if s.Prefix == "" || s.Prefix[0] == '/' || s.Prefix[len(s.Prefix)-1] == '/' {
		v.errf("config_source.prefix", "is required by consul: the KV prefix without leading or trailing slash (sluice/fleet), got %q", s.Prefix)
	}
	if v.src == nil || v.src.files != nil {
		return // assembled: the fleet's parts are expected
	}
	for _, f := range [...]struct {
		name string
		set  bool
	}{
		{"upstreams", len(c.Upstreams) > 0}, {"routes", c.Routes.Len() > 0}, {"consumers", len(c.Consumers) > 0},
		{"global_policies", len(c.GlobalPolicies) > 0}, {"shared_dicts", len(c.SharedDicts) > 0}, {"redis", c.Redis != nil},
		{"client", v.src.present("client")},
	} {
		if f.set {
			v.errf(f.name, "comes from Consul (config_source: consul): put it under %s/ (sluice apply --consul), not in this file", s.Prefix)
		}
	}
}

// FleetPart is one key of a fleet's configuration.
type FleetPart struct {
	// Key is the whole KV key, "sluice/fleet/routes/api".
	Key string
	// Value is the key's content.
	Value []byte
}

// FleetKey returns the key of a resource under prefix: kind is "config",
// "routes", "upstreams" or "consumers"; name is empty for "config".
func FleetKey(prefix, kind, name string) string {
	if kind == "config" {
		return prefix + "/config"
	}
	return prefix + "/" + kind + "/" + name
}

// AssembleFleet builds the configuration a fleet node runs: the node's own
// sections from local (its validated file), the fleet's from parts (the
// keys under local's prefix, in any order). It is validated like a file;
// an error names the Consul key of the culprit ("consul:sluice/fleet/
// routes/api:3: routes[2].upstream: unknown upstream"). Keys that name no
// resource are errors too.
func AssembleFleet(local *Config, parts []FleetPart) (*Config, error) {
	prefix := local.ConfigSource.Prefix + "/"
	cfg := &Config{
		Listen: local.Listen, Workers: local.Workers, DrainTimeout: local.DrainTimeout, LogLevel: local.LogLevel, LogFormat: local.LogFormat,
		Admin: local.Admin, AccessLog: local.AccessLog, Trace: local.Trace, Consul: local.Consul,
		ConfigSource: local.ConfigSource,
	}
	src := newSource("")
	src.files = map[string]string{}
	var errs errorList
	var routes []*Route
	sorted := append([]FleetPart(nil), parts...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Key < sorted[j].Key })
	for _, p := range sorted {
		file := "consul:" + p.Key
		rest, ok := strings.CutPrefix(p.Key, prefix)
		kind, name, _ := strings.Cut(rest, "/")
		if !ok || name == "" && kind != "config" || strings.Contains(name, "/") {
			errs.add(&Error{File: file, Msg: "names no resource: keys are " + prefix + "config, " + prefix + "routes/NAME, " + prefix + "upstreams/NAME, " + prefix + "consumers/NAME"})
			continue
		}
		var path string
		var dst any
		var nameField *string
		switch kind {
		case "config":
			var shared fleetShared
			if ps, e := decodeFragment(p.Value, file, "", &shared); e.errs == nil && ps != nil {
				merge(src, ps, file, "")
				for _, f := range []string{"client", "shared_dicts", "redis", "global_policies"} {
					src.files[f] = file
				}
				cfg.Client, cfg.SharedDicts, cfg.Redis, cfg.GlobalPolicies = shared.Client, shared.SharedDicts, shared.Redis, shared.GlobalPolicies
			} else {
				errs.errs = append(errs.errs, e.errs...)
			}
			continue
		case "routes":
			r := new(Route)
			routes = append(routes, r)
			path = "routes[" + strconv.Itoa(len(routes)-1) + "]"
			dst, nameField = r, &r.Name
		case "upstreams":
			cfg.Upstreams = append(cfg.Upstreams, Upstream{})
			path = "upstreams[" + strconv.Itoa(len(cfg.Upstreams)-1) + "]"
			dst, nameField = &cfg.Upstreams[len(cfg.Upstreams)-1], &cfg.Upstreams[len(cfg.Upstreams)-1].Name
		case "consumers":
			cfg.Consumers = append(cfg.Consumers, Consumer{})
			path = "consumers[" + strconv.Itoa(len(cfg.Consumers)-1) + "]"
			dst, nameField = &cfg.Consumers[len(cfg.Consumers)-1], &cfg.Consumers[len(cfg.Consumers)-1].Name
		default:
			errs.add(&Error{File: file, Msg: fmt.Sprintf("names no resource (%q is not config, routes, upstreams or consumers)", kind)})
			continue
		}
		// Decode into a fresh value: a slice grown above moves the others.
		fresh := reflect.New(reflect.TypeOf(dst).Elem())
		ps, e := decodeFragment(p.Value, file, path, fresh.Interface())
		if e.errs != nil || ps == nil {
			errs.errs = append(errs.errs, e.errs...)
		} else {
			merge(src, ps, file, path)
		}
		reflect.ValueOf(dst).Elem().Set(fresh.Elem())
		v := validator{src: ps, errs: &errs}
		v.resourceName(path, nameField, name)
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	cfg.Routes = Routes(routes...)
	v := validator{src: src, errs: &errs}
	v.config(cfg)
	if err := errs.err(); err != nil {
		return nil, err
	}
	cfg.src = src
	return cfg, nil
}

// merge adds a part's positions to the assembled source.
func merge(dst, part *source, file, path string) {
	for p, l := range part.lines {
		dst.lines[p] = l
	}
	for p := range part.bad {
		dst.bad[p] = true
	}
	if path != "" {
		dst.files[path] = file
	}
}

// FleetParts splits the fleet part of c into its keys under prefix, each
// value YAML: what `sluice apply --consul` writes.
func FleetParts(c *Config, prefix string) ([]FleetPart, error) {
	shared := fleetShared{Client: c.Client, SharedDicts: c.SharedDicts, Redis: c.Redis, GlobalPolicies: c.GlobalPolicies}
	var out []FleetPart
	add := func(kind, name string, v any) error {
		b, err := EncodeYAML(v)
		if err != nil {
			return err
		}
		out = append(out, FleetPart{Key: FleetKey(prefix, kind, name), Value: b})
		return nil
	}
	if err := add("config", "", &shared); err != nil {
		return nil, err
	}
	for i := range c.Upstreams {
		if err := add("upstreams", c.Upstreams[i].Name, &c.Upstreams[i]); err != nil {
			return nil, err
		}
	}
	for _, r := range c.Routes.All() {
		if err := add("routes", r.Name, r); err != nil {
			return nil, err
		}
	}
	for i := range c.Consumers {
		if err := add("consumers", c.Consumers[i].Name, &c.Consumers[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}
