package discovery

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/lb"
)

// Options are the Manager's hooks. The zero value is silent.
type Options struct {
	// Logf receives source failures, recoveries, skipped entries and refused
	// empty answers. Nil: silent.
	Logf func(format string, args ...any)
	// Applied is called after discovery updated an upstream's lb group
	// (metrics, tests), on the watch's goroutine: it must not block.
	Applied func(upstream string, targets int)
}

// Manager runs the watches of a config's discovery upstreams and applies
// what they find to the upstreams' lb groups. Its methods are safe for
// concurrent use, and safe on a nil *Manager (a config without discovery),
// where they do nothing.
type Manager struct {
	opts Options

	mu        sync.Mutex
	consul    *config.Consul // as last configured; nil when none
	consulFP  string
	client    *api.Client
	watches   map[sourceKey]*watch
	bindings  map[string]*binding // by upstream name
	groups    map[string]*lb.Upstream
	closed    bool
	dumpFails uint64
}

// binding is one discovery upstream and what was last applied to it.
type binding struct {
	name     string
	balancer lb.BalancerKind // the upstream's: hash takes no backups
	disc     config.Discovery
	key      sourceKey
	have     bool // specs hold a discovered rotation
	specs    []lb.TargetSpec
	// targets is the source's list the specs came from.
	targets      []Target
	updates      uint64
	lastUpdate   time.Time
	refusedEmpty uint64
	lastErr      string
}

// New returns a Manager with no sources; Configure gives it some.
func New(opts Options) *Manager {
	return &Manager{opts: opts, watches: make(map[sourceKey]*watch), bindings: make(map[string]*binding)}
}

func (m *Manager) logf(format string, args ...any) {
	if m.opts.Logf != nil {
		m.opts.Logf(format, args...)
	}
}

// Configure makes the Manager watch what cfg's upstreams name: it starts
// the watches cfg adds (sharing one per source), waits for their first
// answer up to consul.start_timeout, falls back to the dump, and stops the
// watches cfg no longer uses. It fails, changing nothing that runs, when a
// required source gets no answer (ErrRequired) or discovery has no consul
// section (ErrNoConsul). Call it off the event loops: it blocks up to
// start_timeout.
func (m *Manager) Configure(cfg *config.Config) error {
	if m == nil {
		return nil
	}
	want := make(map[string]*config.Upstream)
	for i := range cfg.Upstreams {
		if u := &cfg.Upstreams[i]; u.Discovery != nil {
			want[u.Name] = u
		}
	}
	if len(want) > 0 && cfg.Consul == nil {
		return ErrNoConsul
	}

	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	client, fp := m.client, m.consulFP
	reuse := cfg.Consul != nil && fp == consulFingerprint(cfg.Consul) && client != nil
	if len(want) > 0 && !reuse {
		var err error
		if client, err = newClient(cfg.Consul); err != nil {
			m.mu.Unlock()
			return fmt.Errorf("discovery: consul: %w", err)
		}
		fp = consulFingerprint(cfg.Consul)
	}
	// Start the watches this config adds; the running ones stay unless the
	// consul section changed.
	var started []*watch
	needed := make(map[sourceKey]*watch)
	required := make(map[sourceKey]bool)
	for _, u := range want {
		k := keyOf(u.Discovery)
		required[k] = required[k] || u.Discovery.Required
		if needed[k] != nil {
			continue
		}
		if w := m.watches[k]; w != nil && reuse {
			needed[k] = w
			continue
		}
		w := newWatch(m, k, client, cfg.Consul)
		needed[k] = w
		started = append(started, w)
	}
	m.mu.Unlock()

	for _, w := range started {
		go w.run()
	}
	deadline := time.Now()
	if cfg.Consul != nil {
		deadline = deadline.Add(time.Duration(cfg.Consul.StartTimeout))
	}
	var errs []error
	for _, w := range started {
		if !w.awaitFirst(deadline, required[w.key]) {
			if required[w.key] {
				errs = append(errs, fmt.Errorf("%w: %s: %s (discovery.required is set; the dump is not used)", ErrRequired, w.key, w.lastError()))
				continue
			}
			m.loadDump(w)
		}
	}
	if len(errs) > 0 {
		for _, w := range started {
			w.stop()
		}
		return errors.Join(errs...)
	}

	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		for _, w := range started {
			w.stop()
		}
		return ErrClosed
	}
	var retired []*watch
	for k, w := range m.watches {
		if needed[k] != w {
			retired = append(retired, w)
		}
	}
	m.watches = needed
	m.client, m.consulFP, m.consul = client, fp, cfg.Consul
	bindings := make(map[string]*binding, len(want))
	for name, u := range want {
		b := &binding{name: name, balancer: lb.BalancerKind(u.Balancer), disc: *u.Discovery, key: keyOf(u.Discovery)}
		if old := m.bindings[name]; old != nil && old.key == b.key {
			// The upstream keeps what it had until its source says more.
			b.have, b.specs, b.targets = old.have, old.specs, old.targets
			b.updates, b.lastUpdate, b.refusedEmpty = old.updates, old.lastUpdate, old.refusedEmpty
		}
		bindings[name] = b
	}
	m.bindings = bindings
	for _, b := range bindings {
		if ts, ok := m.watches[b.key].current(); ok {
			m.choose(b, ts)
		}
	}
	m.mu.Unlock()
	// Stopping waits for the goroutine, whose last answer may be calling
	// sourceChanged: do it without the lock.
	for _, w := range retired {
		w.stop()
	}
	return nil
}

// Prepare returns cfg with the discovery upstreams' targets replaced by the
// last discovered ones (the static targets stay for an upstream whose source
// has not answered), for the engine's Compiler, so a compile neither empties
// nor rewinds them. cfg is not modified; the copy shares everything else.
// On a nil Manager it returns cfg.
func (m *Manager) Prepare(cfg *config.Config) *config.Config {
	if m == nil {
		return cfg
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := *cfg
	out.Upstreams = append([]config.Upstream(nil), cfg.Upstreams...)
	for i := range out.Upstreams {
		u := &out.Upstreams[i]
		b := m.bindings[u.Name]
		if u.Discovery == nil || b == nil || !b.have {
			continue
		}
		u.Targets = make([]config.Target, len(b.specs))
		for j, sp := range b.specs {
			u.Targets[j] = config.Target{Addr: sp.Addr, Weight: sp.Weight, Down: sp.Down, Backup: sp.Backup,
				MaxFails: sp.MaxFails, FailTimeout: config.Duration(sp.FailTimeout)}
		}
	}
	return &out
}

// Bind points the Manager at the lb groups a compile made or kept (the
// Compiler's Upstreams) and applies the latest discovered targets to them
// again, in case a change arrived while the config compiled. Call it after
// every successful compile. On a nil Manager it does nothing.
func (m *Manager) Bind(groups map[string]*lb.Upstream) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.groups = groups
	for _, b := range m.bindings {
		m.apply(b)
	}
}

// Close stops every watch. The lb groups keep their last targets.
func (m *Manager) Close() {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.closed = true
	ws := m.watches
	m.watches = map[sourceKey]*watch{}
	m.mu.Unlock()
	for _, w := range ws {
		w.stop()
	}
}

// sourceChanged applies a watch's new targets to every upstream bound to it.
// It runs on the watch's goroutine.
func (m *Manager) sourceChanged(w *watch) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.watches[w.key] != w {
		return // a retired watch, or one whose Configure has not finished
	}
	ts, _ := w.current()
	for _, b := range m.bindings {
		if b.key == w.key {
			m.choose(b, ts)
			m.apply(b)
		}
	}
}

// choose turns the source's targets into the binding's rotation (every
// target with its server parameters: lb drains down ones and keeps backups
// for when no primary can serve), refusing one with no usable target
// unless allow_empty. Called with m.mu held.
func (m *Manager) choose(b *binding, ts []Target) {
	specs := targetSpecs(ts, b.balancer)
	if !usable(specs) && !b.disc.AllowEmpty {
		if !b.have || len(b.specs) > 0 {
			b.refusedEmpty++
			m.logf("discovery: upstream %q: %s lists no usable target; the last known targets stay (allow_empty is off)", b.name, b.key)
		}
		return
	}
	b.have, b.specs, b.targets = true, specs, ts
}

// apply updates the binding's lb group when its rotation differs. Called
// with m.mu held.
func (m *Manager) apply(b *binding) {
	g := m.groups[b.name]
	if g == nil || !b.have || sameSpecs(g.Snapshot(), b.specs) {
		return
	}
	if err := g.Update(b.specs); err != nil {
		b.lastErr = err.Error()
		m.logf("discovery: upstream %q: %v", b.name, err)
		return
	}
	b.updates++
	b.lastUpdate = time.Now()
	b.lastErr = ""
	if m.opts.Applied != nil {
		m.opts.Applied(b.name, len(b.specs))
	}
}

// awaitFirst waits for the watch's first answer: a success, or for a
// source that is not required the first outcome (a Consul refusing
// connections is down now; its dump serves while the watch retries). It
// reports whether the watch has an answer.
func (w *watch) awaitFirst(deadline time.Time, required bool) bool {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	tried := w.tried
	if required {
		tried = nil
	}
	select {
	case <-w.answered:
		return true
	case <-tried:
		select {
		case <-w.answered:
			return true
		default:
			return false
		}
	case <-t.C:
		return false
	}
}

func (w *watch) lastError() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lastErr == "" {
		return "no answer within consul.start_timeout"
	}
	return w.lastErr
}

func consulFingerprint(c *config.Consul) string {
	tls := config.ConsulTLS{}
	if c.TLS != nil {
		tls = *c.TLS
	}
	return fmt.Sprintf("%s|%s|%s|%s|%v|%v|%v|%d|%v|%+v", c.Address, c.AuthToken(), c.Datacenter, c.DumpDir,
		c.Wait, c.StartTimeout, c.RetryMax, c.RateLimit, c.TLS != nil, tls)
}

func newClient(c *config.Consul) (*api.Client, error) {
	ac := &api.Config{
		Address:    c.Address,
		Scheme:     "http",
		Datacenter: c.Datacenter,
		Token:      c.AuthToken(),
	}
	if t := c.TLS; t != nil {
		ac.Scheme = "https"
		ac.TLSConfig = api.TLSConfig{
			Address: t.ServerName, CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile,
			InsecureSkipVerify: t.InsecureSkipVerify,
		}
	}
	// One connection per blocking query: the pooled transport keeps as many
	// idle ones as there are watches.
	tr := api.DefaultConfig().Transport
	tr.MaxIdleConnsPerHost = 1 << 10
	tr.MaxIdleConns = 1 << 10
	if ac.Scheme == "https" {
		tc, err := api.SetupTLSConfig(&ac.TLSConfig)
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig = tc
	}
	ac.HttpClient = &http.Client{Transport: tr}
	return api.NewClient(ac)
}

// Status is a point-in-time view of every source and every discovery
// upstream, for the admin side (/status, /upstreams, metrics). It marshals to
// JSON as is.
type Status struct {
	Sources   []SourceStatus   `json:"sources"`
	Upstreams []UpstreamStatus `json:"upstreams"`
	// DumpFailures counts dump writes that failed.
	DumpFailures uint64 `json:"dump_failures"`
}

// SourceStatus is one watch's state.
type SourceStatus struct {
	Source  string `json:"source"`
	Type    string `json:"type"`
	Key     string `json:"key,omitempty"`
	Service string `json:"service,omitempty"`
	Tag     string `json:"tag,omitempty"`
	Filter  string `json:"filter,omitempty"`
	// State is starting, dump, ok or failing (the State constants).
	State string `json:"state"`
	// Index is the Consul index of the targets held.
	Index uint64 `json:"index"`
	// FromDump: the targets held come from the dump, Consul has not
	// answered since the start.
	FromDump    bool      `json:"from_dump"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastChange  time.Time `json:"last_change,omitzero"`
	// StalenessSeconds is the time since the last success (or since the
	// watch started) while the state is not ok; 0 while ok.
	StalenessSeconds    float64   `json:"staleness_seconds"`
	LastError           string    `json:"last_error,omitempty"`
	LastErrorAt         time.Time `json:"last_error_at,omitzero"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	// Requests and Failures count queries to Consul; Changes the answers
	// that changed the targets.
	Requests uint64 `json:"requests"`
	Failures uint64 `json:"failures"`
	Changes  uint64 `json:"changes"`
	// BadValues is the number of entries the last answer skipped (Skipped
	// says why); BadValuesTotal counts skipped entries over the answers
	// whose skipped set changed.
	BadValues      int      `json:"bad_values"`
	BadValuesTotal uint64   `json:"bad_values_total"`
	Skipped        []string `json:"skipped,omitempty"`
	// Upstreams using the source.
	Upstreams []string `json:"upstreams"`
	// Targets is the source's last known good list, down and backup ones
	// included.
	Targets []Target `json:"targets"`
}

// UpstreamStatus is one discovery upstream: where its targets come from
// and what discovery last applied.
type UpstreamStatus struct {
	Name       string `json:"name"`
	Source     string `json:"source"`
	AllowEmpty bool   `json:"allow_empty"`
	Required   bool   `json:"required"`
	// InRotation are the addresses discovery put in the lb group (down
	// targets out; backups only when no primary is listed).
	InRotation []string `json:"in_rotation"`
	// Targets are the source's targets the rotation came from.
	Targets    []Target  `json:"targets"`
	Updates    uint64    `json:"updates"`
	LastUpdate time.Time `json:"last_update,omitzero"`
	// RefusedEmpty counts answers that would have emptied the upstream.
	RefusedEmpty uint64 `json:"refused_empty"`
	LastError    string `json:"last_error,omitempty"`
}

// Status returns the state of every source and discovery upstream, sorted
// by name. It allocates: call it from the admin side, not from an event
// loop.
func (m *Manager) Status() Status {
	if m == nil {
		return Status{}
	}
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	st := Status{DumpFailures: m.dumpFails}
	users := make(map[sourceKey][]string)
	for _, b := range m.bindings {
		users[b.key] = append(users[b.key], b.name)
		us := UpstreamStatus{
			Name: b.name, Source: b.key.String(), AllowEmpty: b.disc.AllowEmpty, Required: b.disc.Required,
			InRotation: make([]string, len(b.specs)), Targets: append([]Target(nil), b.targets...),
			Updates: b.updates, LastUpdate: b.lastUpdate, RefusedEmpty: b.refusedEmpty, LastError: b.lastErr,
		}
		for i, sp := range b.specs {
			us.InRotation[i] = sp.Addr
		}
		st.Upstreams = append(st.Upstreams, us)
	}
	for k, w := range m.watches {
		ss := w.status(now)
		ss.Upstreams = users[k]
		sort.Strings(ss.Upstreams)
		st.Sources = append(st.Sources, ss)
	}
	sort.Slice(st.Sources, func(i, j int) bool { return st.Sources[i].Source < st.Sources[j].Source })
	sort.Slice(st.Upstreams, func(i, j int) bool { return st.Upstreams[i].Name < st.Upstreams[j].Name })
	return st
}
