package policies

import (
	"strings"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/engine"
)

// TestAggregationPoliciesConfigErrors covers the config errors of
// aggregate, batch-requests, traffic-split and mirror: each names the
// field and says what is wrong; and what they accept.
func TestAggregationPoliciesConfigErrors(t *testing.T) {
	cases := []struct{ policy, want string }{
		{`{ name: aggregate }`, `config.calls: is required`},
		{`{ name: aggregate, config: { calls: [ { upstream: u, path: / } ] } }`, `config.calls[0].name: is required`},
		{`{ name: aggregate, config: { calls: [ { name: "a b", upstream: u, path: / } ] } }`, `config.calls[0].name: must be [A-Za-z0-9_-]+`},
		{`{ name: aggregate, config: { calls: [ { name: a, upstream: u, path: / }, { name: a, upstream: u, path: / } ] } }`, `config.calls[1].name: "a" names two calls`},
		{`{ name: aggregate, config: { calls: [ { name: a, path: / } ] } }`, `config.calls[0].upstream: is required`},
		{`{ name: aggregate, config: { calls: [ { name: a, upstream: u, path: x } ] } }`, `config.calls[0].path: must start with '/'`},
		{`{ name: aggregate, config: { calls: [ { name: a, upstream: u, path: "/{{resp.b.id}}" }, { name: b, upstream: u, path: / } ] } }`, `config.calls[0].path: template "/{{resp.b.id}}": {{resp.b.id}}: no call "b" before this one`},
		{`{ name: aggregate, config: { calls: [ { name: a, upstream: u, path: "/{nope}" } ] } }`, `config.calls[0].path: template "/{nope}": unknown variable`},
		{`{ name: aggregate, config: { calls: [ { name: a, upstream: u, path: /, headers: { Host: x } } ] } }`, `config.calls[0].headers.Host: Host is set by the route's host setting`},
		{`{ name: aggregate, config: { calls: [ { name: a, upstream: u, path: /, pass_headers: [Connection] } ] } }`, `config.calls[0].pass_headers[0]: Connection is hop-by-hop`},
		{`{ name: aggregate, config: { calls: [ { name: a, upstream: u, path: /, allow: [x], deny: [y] } ] } }`, `config.calls[0].deny: allow and deny together`},
		{`{ name: aggregate, config: { calls: [ { name: a, upstream: u, path: /, target: "a..b" } ] } }`, `config.calls[0].target: "a..b" has an empty key`},
		{`{ name: aggregate, config: { calls: [ { name: a, upstream: u, path: /, content_type: text/plain } ] } }`, `config.calls[0].content_type: is set without a body`},
		{`{ name: aggregate, config: { max_depth: 5000, calls: [ { name: a, upstream: u, path: / } ] } }`, `config.max_depth: must be between 1 and 1000`},
		{`{ name: aggregate, config: { calls: [ { name: a, upstream: u, path: /, method: "G T" } ] } }`, `config.calls[0].method: not a method`},
		// Literal text the sub-request's checks refuse at run time fails
		// every call: refused here (regression: it was accepted).
		{`{ name: aggregate, config: { calls: [ { name: a, upstream: u, path: /, headers: { X-Foo: "a\r\nX-Evil: 1" } } ] } }`, `config.calls[0].headers.X-Foo: "a\r\nX-Evil: 1" holds '\r', which a field value cannot`},
		{`{ name: aggregate, config: { calls: [ { name: a, upstream: u, path: /, headers: { X-Foo: "{consumer}\x01" } } ] } }`, `config.calls[0].headers.X-Foo: "{consumer}\x01" holds '\x01'`},
		{`{ name: aggregate, config: { calls: [ { name: a, upstream: u, path: "/a\nb" } ] } }`, `config.calls[0].path: "/a\nb" holds '\n': a path is visible ASCII`},
		{`{ name: aggregate, config: { calls: [ { name: a, upstream: u, path: "/a b/{uri}" } ] } }`, `config.calls[0].path: "/a b/{uri}" holds ' '`},
		{`{ name: aggregate, config: { calls: [ { name: a, upstream: u, path: /, query: "a=\x7f" } ] } }`, `config.calls[0].query: "a=\x7f" holds '\x7f'`},
		{`{ name: batch-requests, config: { max_requests: 500 } }`, `config.max_requests: must be between 1 and 100`},
		{`{ name: batch-requests, config: { gateway: nope } }`, `config.gateway: must be host:port`},
		{`{ name: batch-requests, config: { gateway: "127.0.0.1:80", upstream: u } }`, `config.gateway: is for items sent through the gateway`},
		{`{ name: traffic-split }`, `config.rules: is required`},
		{`{ name: traffic-split, config: { rules: [ {} ] } }`, `config.rules[0].upstreams: is required`},
		{`{ name: traffic-split, config: { rules: [ { upstreams: [ { upstream: a, weight: 0 } ] } ] } }`, `config.rules[0].upstreams: every weight is 0`},
		{`{ name: traffic-split, config: { rules: [ { upstreams: [ { upstream: a, weight: 20000 } ] } ] } }`, `config.rules[0].upstreams[0].weight: must be between 0 and 10000`},
		{`{ name: traffic-split, config: { rules: [ { match: [ { header: X, arg: y } ], upstreams: [ { upstream: a } ] } ] } }`, `config.rules[0].match[0]: needs exactly one of header, arg, cookie or var`},
		{`{ name: traffic-split, config: { rules: [ { match: [ { var: nope } ], upstreams: [ { upstream: a } ] } ] } }`, `config.rules[0].match[0].var: unknown variable "nope"`},
		{`{ name: traffic-split, config: { hash_on: "{nope}", rules: [ { upstreams: [ { upstream: a } ] } ] } }`, `config.hash_on: template "{nope}": unknown variable`},
		{`{ name: traffic-split, config: { hash_on: "fixed", rules: [ { upstreams: [ { upstream: a } ] } ] } }`, `config.hash_on: template "{fixed}": unknown variable`},
		{`{ name: mirror }`, `config.upstream: is required`},
		{`{ name: mirror, config: { upstream: s, sample: 150 } }`, `config.sample: must be a percentage in (0, 100]`},
		{`{ name: mirror, config: { upstream: s, path: x } }`, `config.path: must start with '/'`},
		{`{ name: mirror, config: { upstream: s, headers: [Content-Length] } }`, `config.headers[0]: Content-Length is not copied`},
		{`{ name: mirror, config: { upstream: s, max_in_flight: -2 } }`, `config.max_in_flight: must be between 1 and 1000000, or -1`},
	}
	for _, tc := range cases {
		_, err := Build(specOf(t, tc.policy), &engine.Env{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant it to contain %q", tc.policy, err, tc.want)
		}
	}
	for _, ok := range []string{
		`{ name: aggregate, config: { calls: [ { name: me, upstream: u, path: "/me" }, { name: o, upstream: u, path: "/o/{{resp.me.first name}}/{ uri }/{{x}}", query: "q={{resp.me.é}}", headers: { X-A: "a\tb {{resp.me.a\tb}}", X-B: "{{ {consumer} }}" } } ] } }`,
		`{ name: aggregate, config: { timeout: 2s, calls: [ { name: me, upstream: u, path: "/me", hidden: true }, { name: o, upstream: u, method: post, path: "/o/{{resp.me.id}}", body: '{{"a":{{resp.me.id}}}}', group: orders, target: data.items, allow: [x], mapping: { x: y } } ] } }`,
		`{ name: batch-requests, config: { max_requests: 100, max_body: 4MiB, timeout: 3s, gateway: "127.0.0.1:8080" } }`,
		`{ name: traffic-split, config: { hash_on: "{consumer}:{http_x_user}", rules: [ { match: [ { cookie: g, values: [a, b], not: true } ], upstreams: [ { upstream: a, weight: 3 }, { weight: 7 } ] } ] } }`,
		`{ name: mirror, config: { upstream: s, sample: 0.5, path: "/shadow{uri}", method: put, headers: [X-Trace], body: true, max_body: 1MiB, timeout: 1s, max_in_flight: -1 } }`,
	} {
		if _, err := Build(specOf(t, ok), &engine.Env{}); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

func TestAggregateStepsFollowReferences(t *testing.T) {
	pol, err := Build(specOf(t, `{ name: aggregate, config: { calls: [
		{ name: a, upstream: u, path: "/" },
		{ name: b, upstream: u, path: "/{{resp.a.id}}" },
		{ name: c, upstream: u, path: "/" },
		{ name: d, upstream: u, path: "/", headers: { X-B: "{{resp.b.x}}" } },
		{ name: e, upstream: u, path: "/", body: "{{resp.a.id}}" } ] } }`), &engine.Env{})
	if err != nil {
		t.Fatal(err)
	}
	p := pol.(*aggregate)
	var got []string
	for _, step := range p.steps {
		var names []string
		for _, ci := range step {
			names = append(names, p.calls[ci].name)
		}
		got = append(got, strings.Join(names, ","))
	}
	if strings.Join(got, " | ") != "a,c | b,e | d" {
		t.Fatalf("steps %v", got)
	}
}

func TestMirrorSamplingIsExactPerWorker(t *testing.T) {
	for _, tc := range []struct {
		sample string
		n      int
		want   int
	}{{"100", 1000, 1000}, {"50", 1000, 500}, {"12.5", 800, 100}, {"0.1", 10000, 10}, {"33.3", 1000, 333}} {
		pol, err := Build(specOf(t, `{ name: mirror, config: { upstream: s, sample: `+tc.sample+` } }`), &engine.Env{})
		if err != nil {
			t.Fatal(err)
		}
		p := pol.(*mirror)
		for w := 0; w < 2; w++ {
			got := 0
			for i := 0; i < tc.n; i++ {
				if p.sampled(w) {
					got++
				}
			}
			if got != tc.want {
				t.Errorf("sample %s, worker %d: %d of %d, want %d", tc.sample, w, got, tc.n, tc.want)
			}
		}
	}
}

func TestMirrorInFlightCap(t *testing.T) {
	pol, err := Build(specOf(t, `{ name: mirror, config: { upstream: s, max_in_flight: 3, timeout: 1s } }`), &engine.Env{})
	if err != nil {
		t.Fatal(err)
	}
	p := pol.(*mirror)
	var w mirrorWorker
	const sec = int64(time.Second)
	for i, tc := range []struct {
		now  int64
		want bool
	}{
		{0, true}, {100, true}, {200, true}, // three copies may run
		{300, false}, {sec - 1, false}, // the first may still run until 1s
		{sec, true},                                                         // it ended (or was cut) at 1s: its place is free
		{sec + 50, false},                                                   // the second's ends at 1s+100ns
		{sec + 100, true},                                                   // now it is free
		{3 * sec, true}, {3 * sec, true}, {3 * sec, true}, {3 * sec, false}, // all three ended
	} {
		if got := p.admit(&w, tc.now); got != tc.want {
			t.Fatalf("step %d at %dns: admit %v, want %v", i, tc.now, got, tc.want)
		}
	}
	unbounded, err := Build(specOf(t, `{ name: mirror, config: { upstream: s, max_in_flight: -1 } }`), &engine.Env{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5000; i++ {
		if !unbounded.(*mirror).admit(&w, 0) {
			t.Fatal("max_in_flight: -1 capped copies")
		}
	}
}
