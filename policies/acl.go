package policies

import (
	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
)

// aclConfig is the `acl` policy's config: which consumer groups may use
// the route. It runs after the auth policies (priority 950) and reads the
// consumer they set.
type aclConfig struct {
	// Allow lists the groups allowed: a consumer in none of them gets a
	// 403. Default none (every consumer not denied is allowed).
	Allow []string `yaml:"allow" desc:"groups allowed (a consumer in none of them gets 403); default any group"`
	// Deny lists groups refused, checked first: a consumer in one of
	// them gets a 403 even when another of its groups is allowed.
	// Default none.
	Deny []string `yaml:"deny" desc:"groups refused (checked first, 403); default none"`
	// AllowAnonymous lets a request whose consumer is an auth policy's
	// anonymous one through the checks. Default false: a 403.
	AllowAnonymous bool `yaml:"allow_anonymous" desc:"let anonymous consumers through; default false (403)"`
}

// acl allows or denies consumers by group. A request without a consumer
// (no auth policy ran before it) gets a 403 too: acl has no credential to
// ask for, so a 401 (which must name a scheme) would mislead.
type acl struct {
	allow, deny    map[string]struct{}
	allowAnonymous bool
}

func init() { RegisterConfig("acl", aclConfig{}, newACL) }

func newACL(spec config.PolicySpec, _ *engine.Env) (engine.Policy, error) {
	var cfg aclConfig
	if err := config.DecodePolicyConfig(spec, &cfg); err != nil {
		return nil, err
	}
	if len(cfg.Allow) == 0 && len(cfg.Deny) == 0 {
		return nil, config.FieldError(spec, "", "set allow, deny or both")
	}
	p := &acl{allowAnonymous: cfg.AllowAnonymous}
	var err error
	if p.allow, err = groupSet(spec, "allow", cfg.Allow); err != nil {
		return nil, err
	}
	if p.deny, err = groupSet(spec, "deny", cfg.Deny); err != nil {
		return nil, err
	}
	return p, nil
}

func groupSet(spec config.PolicySpec, field string, groups []string) (map[string]struct{}, error) {
	if len(groups) == 0 {
		return nil, nil
	}
	m := make(map[string]struct{}, len(groups))
	for i, g := range groups {
		if g == "" {
			return nil, config.FieldError(spec, field+"["+itoa(i)+"]", "must not be empty")
		}
		m[g] = struct{}{}
	}
	return m, nil
}

func (p *acl) Priority() int { return aclPriority }

func (p *acl) Install(c *engine.ChainBuilder) error {
	c.Add(engine.PhaseAccess, p.access)
	return nil
}

func (p *acl) access(x *engine.Ctx) engine.Status {
	c := x.Consumer()
	if c == nil {
		x.RespondError(403, "no consumer identified for this route's ACL")
		return engine.Done
	}
	if x.Int(authAnonymous) != 0 && !p.allowAnonymous {
		x.RespondError(403, "consumer not allowed")
		return engine.Done
	}
	allowed := p.allow == nil
	for _, g := range c.Groups {
		if _, ok := p.deny[g]; ok {
			x.RespondError(403, "consumer not allowed")
			return engine.Done
		}
		if _, ok := p.allow[g]; ok {
			allowed = true
		}
	}
	if !allowed {
		x.RespondError(403, "consumer not allowed")
		return engine.Done
	}
	return engine.Continue
}
