package policies

import (
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/shm"
)

// specOf parses a one-route config around a policy and returns its spec.
func specOf(t *testing.T, policy string) config.PolicySpec {
	t.Helper()
	cfg, err := config.Parse([]byte(`routes:
  - match: { paths: ["/*"] }
    policies:
      - `+policy+"\n"), "p.yaml")
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return cfg.Routes.At(0).Policies[0]
}

func TestPolicyConfigErrorsNameTheField(t *testing.T) {
	dicts, err := shm.NewRegistry(map[string]int64{"limits": 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	env := &engine.Env{Dicts: dicts}
	cases := []struct{ policy, want string }{
		{`{ name: limit-count, config: { count: 0, window: 1s } }`, "routes[0].policies[0].config.count: must be > 0"},
		{`{ name: limit-count, config: { count: 5 } }`, "config.window: must be a positive duration"},
		{`{ name: limit-count, config: { count: 5, window: 1s, dict: other } }`, `shared dict "other" is not declared`},
		{`{ name: limit-count, config: { count: 5, window: 1s, key: "consumer:x" } }`, `config.key: must be "ip", "route", "upstream", "consumer"`},
		{`{ name: limit-count, config: { count: 5, window: 1s, status: 200 } }`, "config.status: must be between 400 and 599"},
		{`{ name: limit-count, config: { count: 5, window: 1s, bogus: 1 } }`, "bogus"},
		{`{ name: headers, config: { request: { set: { "Bad Name": x } } } }`, "config.request.set.Bad Name"},
		{`{ name: headers, config: { response: { remove: ["a b"] } } }`, "config.response.remove[0]"},
		{`{ name: response, config: { status: 700 } }`, "config.status: must be between 200 and 599"},
		{`{ name: response, config: { content_type: a/b, headers: { content-type: c/d } } }`, "Content-Type is set twice"},
		{`{ name: nosuch }`, `unknown policy "nosuch"`},
		{`{ name: headers, config: { request: { add: { Host: evil } } } }`, "config.request.add.Host: Host is set by the route's host setting"},
		{`{ name: headers, config: { request: { set: { X-Forwarded-For: 1.2.3.4 } } } }`, "X-Forwarded-For is written by the gateway"},
		{`{ name: headers, config: { response: { set: { Content-Length: "5" } } } }`, "Content-Length is framing"},
		{`{ name: headers, config: { response: { remove: [Connection] } } }`, "Connection is hop-by-hop"},
		{`{ name: response, config: { headers: { Transfer-Encoding: chunked } } }`, "Transfer-Encoding is framing"},
		{`{ name: response, config: { status: 204, body: x } }`, "config.body: a 204 response has no body"},
	}
	for _, tc := range cases {
		_, err := Build(specOf(t, tc.policy), env)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant it to contain %q", tc.policy, err, tc.want)
		}
	}
}

func TestRequestKeyParsing(t *testing.T) {
	for in, want := range map[string]requestKey{
		"":               {source: keyIP},
		"ip":             {source: keyIP},
		"route":          {source: keyRoute},
		"header:X-Token": {source: keyHeader, header: "X-Token"},
	} {
		got, err := parseRequestKey(in)
		if err != nil || got != want {
			t.Errorf("parseRequestKey(%q) = %+v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"header:", "header:a b", "consumer:x", "IP"} {
		if _, err := parseRequestKey(bad); err == nil {
			t.Errorf("parseRequestKey(%q) accepted", bad)
		}
	}
}

func TestRegistryListsBuiltins(t *testing.T) {
	names := strings.Join(Names(), ",")
	for _, n := range []string{"headers", "limit-count", "response"} {
		if !strings.Contains(names, n) {
			t.Errorf("%s not registered (have %s)", n, names)
		}
	}
}

func TestNewPolicyConfigErrorsNameTheField(t *testing.T) {
	cases := []struct{ policy, want string }{
		{`{ name: cors }`, `config.allow_origins: is required`},
		{`{ name: cors, config: { allow_origins: ["null"] } }`, `config.allow_origins[0]: "null" is refused`},
		{`{ name: cors, config: { allow_origins: ["https://a.com", "*"] } }`, `config.allow_origins[1]: "*" allows every origin: list it alone`},
		{`{ name: cors, config: { allow_origins: ["https://a.com/"] } }`, `config.allow_origins[0]: not an origin`},
		{`{ name: cors, config: { allow_origins: ["a.com"] } }`, `config.allow_origins[0]: not an origin`},
		{`{ name: cors, config: { allow_origins: ["https://a.*.com"] } }`, `config.allow_origins[0]: a wildcard stands for the first labels`},
		{`{ name: cors, config: { allow_origins: ["https://*example.com"] } }`, `a wildcard stands for the first labels`},
		{`{ name: cors, config: { allow_origins: ["*"], allow_headers: ["a b"] } }`, `config.allow_headers[0]: not a token`},
		{`{ name: cors, config: { allow_origins: ["*"], max_age: 60 } }`, `config.max_age: must be a duration`},
		{`{ name: cors, config: { allow_origins: ["*"], allow_origin: x } }`, `unknown field "allow_origin"`},
		{`{ name: request-id, config: { format: uuid1 } }`, `config.format: must be "uuid4" or "uuid7", got "uuid1"`},
		{`{ name: request-id, config: { header: "X Id" } }`, `config.header: not a valid field name`},
		{`{ name: request-id, config: { header: Host } }`, `config.header: Host is set by the route's host setting`},
		{`{ name: request-id, config: { trust_incoming: yes please } }`, `config.trust_incoming: must be true or false`},
		{`{ name: response-rewrite, config: { status: 204 } }`, `config.status: a 204 response has no body`},
		{`{ name: response-rewrite, config: { status: 99 } }`, `config.status: must be between 200 and 599`},
		{`{ name: response-rewrite, config: { status: 200, only_statuses: [42] } }`, `config.only_statuses[0]: must be a status`},
		{`{ name: response-rewrite, config: { body: "{nope}" } }`, `config.body: template "{nope}": unknown variable "nope"`},
		{`{ name: response-rewrite, config: { body: '{"a":1}' } }`, `config.body: template`},
		{`{ name: response-rewrite, config: { headers: { set: { Content-Length: "1" } } } }`, `config.headers.set.Content-Length: Content-Length is framing`},
		{`{ name: response-rewrite, config: { headers: { remove: [Connection] } } }`, `config.headers.remove[0]: Connection is hop-by-hop`},
		{`{ name: response-rewrite, config: {} }`, `config: rewrites nothing`},
		{`{ name: response-rewrite, config: { body: x, max_body: lots } }`, `config.max_body: must be a size`},
	}
	for _, tc := range cases {
		_, err := Build(specOf(t, tc.policy), &engine.Env{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant it to contain %q", tc.policy, err, tc.want)
		}
	}
	// And what they accept.
	for _, ok := range []string{
		`{ name: cors, config: { allow_origins: ["https://App.Example.com", "https://*.example.org:8443", "http://localhost:3000"], max_age: 0 } }`,
		`{ name: cors, config: { allow_origins: ["*"], allow_methods: ["*"], allow_headers: ["*"], expose_headers: ["*"] } }`,
		`{ name: request-id, config: { format: uuid7, header: X-Correlation-Id, trust_incoming: true, echo: false } }`,
		`{ name: response-rewrite, config: { body: "", max_body: 64KiB } }`,
		`{ name: response-rewrite, config: { body: '{{"id":"{request_id}"}}', only_statuses: [500] } }`,
	} {
		if _, err := Build(specOf(t, ok), &engine.Env{}); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}
