package policies

import (
	"fmt"
	"strings"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/http1"
)

// trafficSplitConfig is the `traffic-split` policy's config (APISIX's
// traffic-split): rules tried in order; the first whose conditions all
// hold sends the request to one of its weighted upstreams.
type trafficSplitConfig struct {
	// Rules, tried in order; the first that matches decides. A request no
	// rule matches goes to the route's upstream. Required.
	Rules []trafficSplitRule `yaml:"rules" desc:"rules tried in order; the first whose match holds picks an upstream by weight; no match: the route's upstream; required"`
	// HashOn makes the choice sticky: a variable ("cookie_uid",
	// "consumer") or a template ("{http_x_user}") hashed onto the weights.
	// Default: deterministic weighted round-robin per worker.
	HashOn string `yaml:"hash_on" desc:"sticky choice by a hash of a variable (cookie_uid, consumer, http_x_user_id) or template; default weighted round-robin; a request without the value falls back to round-robin"`
}

type trafficSplitRule struct {
	// Match: every condition must hold. Empty: every request.
	Match []trafficSplitCond `yaml:"match" desc:"conditions that must all hold; empty matches every request"`
	// Upstreams with their weights.
	Upstreams []trafficSplitTarget `yaml:"upstreams" desc:"weighted upstreams; one without upstream is the route's own; required"`
}

type trafficSplitCond struct {
	Header string `yaml:"header" desc:"a request field to test"`
	Arg    string `yaml:"arg" desc:"a query argument to test (raw, still percent-encoded)"`
	Cookie string `yaml:"cookie" desc:"a cookie to test"`
	Var    string `yaml:"var" desc:"a variable to test: consumer, jwt_claim_NAME, consumer_meta_NAME..."`
	// Values: the value must be one of these; empty: it must be present.
	Values []string `yaml:"values" desc:"the value must equal one of these; empty: it must be present"`
	// Not inverts the condition.
	Not bool `yaml:"not" desc:"invert the condition; default false"`
}

type trafficSplitTarget struct {
	// Upstream names an upstream; "" is the route's own.
	Upstream string `yaml:"upstream" desc:"an upstream's name; empty: the route's own upstream"`
	// Weight, 0..10000. Default 1.
	Weight *int `yaml:"weight" desc:"relative weight, 0..10000; default 1"`
}

// trafficSplit picks the request's upstream in the access phase with
// Ctx.SetUpstream. The choice allocates nothing: conditions read views of
// the request, round-robin reads a per-worker counter and a schedule
// computed with the config, the hash key is built in the Ctx's scratch.
type trafficSplit struct {
	rules  []tsRule
	hashOn *engine.Template // nil: round-robin
}

type tsRule struct {
	conds   []tsCond
	targets []tsTarget
	total   uint64
	// schedule is one cycle of nginx's smooth weighted round-robin over the
	// targets (weights divided by their gcd): any window of len(schedule)
	// requests on a worker has the exact proportions, spread out.
	schedule []uint8
	next     *perWorker[uint64]
}

type tsTarget struct {
	upstream string // "": the route's own
	weight   uint64
	unknown  string // the error message when the upstream is not in the config
}

type tsCond struct {
	kind   tsCondKind
	name   string
	v      engine.Variable
	values [][]byte
	not    bool
}

type tsCondKind uint8

const (
	tsHeader tsCondKind = iota
	tsArg
	tsCookie
	tsVar
)

// trafficSplitPriority runs after authentication (the consumer and JWT
// claims are known) and before limit-count (900), so a limit keyed by
// upstream counts the chosen one.
const trafficSplitPriority = 920

const (
	maxSplitTargets = 16
	maxSplitWeight  = 10000
)

func init() { RegisterConfig("traffic-split", trafficSplitConfig{}, newTrafficSplit) }

func newTrafficSplit(spec config.PolicySpec, env *engine.Env) (engine.Policy, error) {
	var cfg trafficSplitConfig
	if err := config.DecodePolicyConfig(spec, &cfg); err != nil {
		return nil, err
	}
	if len(cfg.Rules) == 0 {
		return nil, config.FieldError(spec, "rules", "is required: list rules with weighted upstreams")
	}
	p := &trafficSplit{}
	if cfg.HashOn != "" {
		src := cfg.HashOn
		if !strings.ContainsAny(src, "{}") {
			src = "{" + src + "}"
		}
		t, err := engine.ParseTemplate(src)
		if err != nil {
			return nil, config.FieldError(spec, "hash_on", err.Error())
		}
		if len(t.Variables()) == 0 {
			return nil, config.FieldError(spec, "hash_on", "has no variable: every request would hash alike")
		}
		p.hashOn = t
	}
	for i := range cfg.Rules {
		r, err := compileSplitRule(spec, env, fmt.Sprintf("rules[%d]", i), &cfg.Rules[i])
		if err != nil {
			return nil, err
		}
		p.rules = append(p.rules, r)
	}
	return p, nil
}

func compileSplitRule(spec config.PolicySpec, env *engine.Env, at string, cr *trafficSplitRule) (tsRule, error) {
	r := tsRule{next: new(perWorker[uint64])}
	for j, c := range cr.Match {
		cat := fmt.Sprintf("%s.match[%d]", at, j)
		set := 0
		cond := tsCond{not: c.Not}
		if c.Header != "" {
			set++
			if !http1.ValidFieldName(c.Header) {
				return r, config.FieldError(spec, cat+".header", fmt.Sprintf("%q is not a valid field name", c.Header))
			}
			cond.kind, cond.name = tsHeader, c.Header
		}
		if c.Arg != "" {
			set++
			cond.kind, cond.name = tsArg, c.Arg
		}
		if c.Cookie != "" {
			set++
			cond.kind, cond.name = tsCookie, c.Cookie
		}
		if c.Var != "" {
			set++
			v, err := engine.ParseVariable(c.Var)
			if err != nil {
				return r, config.FieldError(spec, cat+".var", err.Error())
			}
			cond.kind, cond.v = tsVar, v
		}
		if set != 1 {
			return r, config.FieldError(spec, cat, "needs exactly one of header, arg, cookie or var")
		}
		for _, v := range c.Values {
			cond.values = append(cond.values, []byte(v))
		}
		r.conds = append(r.conds, cond)
	}
	if len(cr.Upstreams) == 0 {
		return r, config.FieldError(spec, at+".upstreams", "is required: list the weighted upstreams")
	}
	if len(cr.Upstreams) > maxSplitTargets {
		return r, config.FieldError(spec, at+".upstreams", fmt.Sprintf("has %d upstreams, at most %d", len(cr.Upstreams), maxSplitTargets))
	}
	for j, t := range cr.Upstreams {
		w := 1
		if t.Weight != nil {
			w = *t.Weight
		}
		if t.Upstream != "" && !env.HasUpstream(t.Upstream) {
			return r, config.FieldError(spec, fmt.Sprintf("%s.upstreams[%d].upstream", at, j), fmt.Sprintf("unknown upstream %q", t.Upstream))
		}
		if w < 0 || w > maxSplitWeight {
			return r, config.FieldError(spec, fmt.Sprintf("%s.upstreams[%d].weight", at, j), fmt.Sprintf("must be between 0 and %d, got %d", maxSplitWeight, w))
		}
		r.targets = append(r.targets, tsTarget{
			upstream: t.Upstream,
			weight:   uint64(w),
			unknown:  "traffic-split: upstream " + quote(t.Upstream) + " is not in the config",
		})
		r.total += uint64(w)
	}
	if r.total == 0 {
		return r, config.FieldError(spec, at+".upstreams", "every weight is 0: no request could be sent")
	}
	r.schedule = smoothSchedule(r.targets)
	return r, nil
}

// smoothSchedule is one cycle of smooth weighted round-robin (nginx's
// ngx_http_upstream_get_peer) over weights divided by their gcd.
func smoothSchedule(ts []tsTarget) []uint8 {
	g := uint64(0)
	for _, t := range ts {
		g = gcd(g, t.weight)
	}
	weights := make([]int64, len(ts))
	var total int64
	for i, t := range ts {
		weights[i] = int64(t.weight / g)
		total += weights[i]
	}
	current := make([]int64, len(ts))
	sched := make([]uint8, total)
	for n := range sched {
		best := -1
		for i, w := range weights {
			current[i] += w
			if w > 0 && (best < 0 || current[i] > current[best]) {
				best = i
			}
		}
		current[best] -= total
		sched[n] = uint8(best)
	}
	return sched
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func (p *trafficSplit) Priority() int { return trafficSplitPriority }

func (p *trafficSplit) Install(c *engine.ChainBuilder) error {
	c.Add(engine.PhaseAccess, p.access)
	return nil
}

func (p *trafficSplit) access(x *engine.Ctx) engine.Status {
	for i := range p.rules {
		r := &p.rules[i]
		if !r.matches(x) {
			continue
		}
		t := &r.targets[p.pick(x, r)]
		if t.upstream != "" && !x.SetUpstream(t.upstream) {
			x.RespondError(500, t.unknown)
			return engine.Done
		}
		return engine.Continue
	}
	return engine.Continue
}

// pick chooses the target of rule r for x: by the hash of hash_on's value
// when the request has one, else the worker's next turn of the schedule.
func (p *trafficSplit) pick(x *engine.Ctx, r *tsRule) int {
	if p.hashOn != nil {
		k, missing := p.hashOn.Append(x.Scratch(), x)
		x.ScratchDone(k)
		if missing == 0 && len(k) > 0 {
			return r.byHash(splitHash(k))
		}
	}
	return r.turn(x.WorkerID())
}

// turn is worker w's next target in the schedule.
func (r *tsRule) turn(w int) int {
	n := r.next.get(w)
	i := r.schedule[*n%uint64(len(r.schedule))]
	*n++
	return int(i)
}

// byHash maps h onto the weights: target i takes weight_i/total of the
// hash space, so a key stays on one side while the weights stay.
func (r *tsRule) byHash(h uint64) int {
	v := h % r.total
	for i := range r.targets {
		if v < r.targets[i].weight {
			return i
		}
		v -= r.targets[i].weight
	}
	return len(r.targets) - 1
}

// splitHash is FNV-1a with a final mix (splitmix64's), whose low bits are
// uniform enough for a modulo by the total weight.
func splitHash(k []byte) uint64 {
	h := hashKey(k)
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

func (r *tsRule) matches(x *engine.Ctx) bool {
	for i := range r.conds {
		if r.conds[i].holds(x) == r.conds[i].not {
			return false
		}
	}
	return true
}

// holds tests the condition without its not.
func (c *tsCond) holds(x *engine.Ctx) bool {
	var v []byte
	var ok bool
	switch c.kind {
	case tsHeader:
		v, ok = x.Header(c.name)
	case tsArg:
		v, ok = x.Arg(c.name)
	case tsCookie:
		v, ok = x.Cookie(c.name)
	case tsVar:
		v, ok = c.v.Append(x.Scratch(), x)
		x.ScratchDone(v)
	}
	if !ok {
		return false
	}
	if len(c.values) == 0 {
		return true
	}
	for _, want := range c.values {
		if string(want) == string(v) {
			return true
		}
	}
	return false
}
