package policies_test

import (
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/policies"
)

// A policy that sends to an upstream by name refuses one the config does
// not have when the config is compiled, at the field's path, rather than
// answering 502 on every request.
func TestPoliciesRefuseUnknownUpstreams(t *testing.T) {
	for _, tc := range []struct{ policy, want string }{
		{`{name: mirror, config: {upstream: nope}}`, `routes[0].policies[0].config.upstream: unknown upstream "nope"`},
		{`{name: aggregate, config: {calls: [{name: a, upstream: nope, path: /x}]}}`, `routes[0].policies[0].config.calls[0].upstream: unknown upstream "nope"`},
		{`{name: traffic-split, config: {rules: [{upstreams: [{upstream: nope}]}]}}`, `routes[0].policies[0].config.rules[0].upstreams[0].upstream: unknown upstream "nope"`},
		{`{name: batch-requests, config: {upstream: nope}}`, `routes[0].policies[0].config.upstream: unknown upstream "nope"`},
	} {
		err := compileWithPolicy(t, tc.policy)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant %q", tc.policy, err, tc.want)
		}
	}
}

// compileWithPolicy compiles a one-route config (an upstream u) with the
// policy spec given in YAML flow style and returns the compile's error.
func compileWithPolicy(t *testing.T, policy string) error {
	t.Helper()
	cfg, err := config.Parse([]byte("upstreams: [{name: u, targets: [{addr: 127.0.0.1:9}]}]\nroutes:\n  - {match: {paths: [/x]}, upstream: u, policies: ["+policy+"]}\n"), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := engine.NewCompiler(policies.Build)
	defer c.Close()
	_, err = c.Compile(cfg)
	return err
}
