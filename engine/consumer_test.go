package engine_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/engine/enginetest"
	"github.com/sluice-gw/sluice/policies"
)

// consumerTestPolicy shows which handlers ran, in which order, with which
// per-request state: "identify" names the consumer from X-User (an auth
// policy's part), "tag" records its tag in access and checks, in
// header_filter, that its private number is still the one it wrote (a
// consumer's private keys must not alias a route's), "report" writes the
// tags as a response field, "rewrite-tag" records its tag in rewrite.
type consumerTestPolicy struct {
	mode, tag string
	prio      int
	privates  int // private numbers to take (identify: shifts the route's count)
	mine      engine.IntKey
}

// consumerTags is the request's tag list.
var consumerTags = engine.NewKey[*[]string]("consumer_test_tags")

// consumerLogged counts log handler runs by tag.
var consumerLogged = struct {
	sync.Mutex
	n map[string]int
}{n: map[string]int{}}

func init() {
	policies.Register("test-consumer", func(spec config.PolicySpec, env *engine.Env) (engine.Policy, error) {
		var cfg struct {
			Mode     string `yaml:"mode"`
			Tag      string `yaml:"tag"`
			Priority int    `yaml:"priority"`
			Privates int    `yaml:"privates"`
		}
		if err := config.DecodePolicyConfig(spec, &cfg); err != nil {
			return nil, err
		}
		return &consumerTestPolicy{mode: cfg.Mode, tag: cfg.Tag, prio: cfg.Priority, privates: cfg.Privates}, nil
	})
}

func (p *consumerTestPolicy) Priority() int { return p.prio }

func (p *consumerTestPolicy) Install(c *engine.ChainBuilder) error {
	for i := 0; i < p.privates; i++ {
		c.PrivateInt()
	}
	switch p.mode {
	case "identify":
		c.Add(engine.PhaseAccess, func(x *engine.Ctx) engine.Status {
			if u, ok := x.Header("X-User"); ok {
				x.SetConsumer(x.Snapshot().Consumer(string(u)))
			}
			return engine.Continue
		})
	case "identify-again": // a second auth policy: replaces an anonymous consumer
		c.Add(engine.PhaseAccess, func(x *engine.Ctx) engine.Status {
			if u, ok := x.Header("X-Real-User"); ok {
				x.SetConsumer(x.Snapshot().Consumer(string(u)))
			}
			return engine.Continue
		})
	case "tag":
		p.mine = c.PrivateInt()
		want := int64(len(p.tag)*1000 + p.prio)
		c.Add(engine.PhaseAccess, func(x *engine.Ctx) engine.Status {
			tags, ok := engine.Get(x, consumerTags)
			if !ok {
				tags = new([]string)
				engine.Set(x, consumerTags, tags)
			}
			*tags = append(*tags, p.tag)
			x.SetInt(p.mine, want)
			return engine.Continue
		})
		c.Add(engine.PhaseHeaderFilter, func(x *engine.Ctx) engine.Status {
			if got := x.Int(p.mine); got != want {
				x.SetResponseHeaderString("X-Bad-"+p.tag, fmt.Sprint(got))
			}
			return engine.Continue
		})
		c.Add(engine.PhaseLog, func(x *engine.Ctx) engine.Status {
			consumerLogged.Lock()
			consumerLogged.n[p.tag]++
			consumerLogged.Unlock()
			return engine.Continue
		})
	case "report":
		c.Add(engine.PhaseHeaderFilter, func(x *engine.Ctx) engine.Status {
			if tags, ok := engine.Get(x, consumerTags); ok {
				x.SetResponseHeaderString("X-Tags", strings.Join(*tags, ","))
			}
			if c := x.Consumer(); c != nil {
				x.SetResponseHeaderString("X-Consumer", c.Name)
			}
			return engine.Continue
		})
	case "rewrite-tag":
		c.Add(engine.PhaseRewrite, func(x *engine.Ctx) engine.Status {
			tags, ok := engine.Get(x, consumerTags)
			if !ok {
				tags = new([]string)
				engine.Set(x, consumerTags, tags)
			}
			*tags = append(*tags, p.tag)
			return engine.Continue
		})
	default:
		return fmt.Errorf("unknown mode %q", p.mode)
	}
	return nil
}

func ctest(id, mode, tag string, prio int) string {
	return fmt.Sprintf("{ name: test-consumer, id: %s, config: { mode: %s, tag: %q, priority: %d } }", id, mode, tag, prio)
}

// consumerGateway serves routes /a (identify, then tag "route" at 1000,
// two private numbers of identify's first) and /b (identify, then tag
// "limit" at 1000 with id "limit"), with the given consumers section.
func consumerGateway(t *testing.T, consumers string) *enginetest.Gateway {
	t.Helper()
	yml := `listen: 127.0.0.1:1
workers: 1
upstreams: [ { name: up, targets: [ { addr: "127.0.0.1:9" } ] } ]
global_policies:
  - ` + ctest("report", "report", "", 0) + `
routes:
  - name: a
    match: { paths: ["/a"] }
    upstream: up
    policies:
      - { name: test-consumer, id: auth, config: { mode: identify, priority: 2000, privates: 2 } }
      - ` + ctest("route-tag", "tag", "route", 1000) + `
  - name: b
    match: { paths: ["/b"] }
    upstream: up
    policies:
      - ` + ctest("auth", "identify", "", 2000) + `
      - ` + ctest("limit", "tag", "limit", 1000) + `
      - ` + ctest("early", "tag", "early", 2500) + `
consumers:
` + consumers
	return enginetest.New(t, yml, policies.Build, nil)
}

func tagsOf(t *testing.T, g *enginetest.Gateway, path, user string) (string, struct{}) {
	t.Helper()
	req := "GET " + path + " HTTP/1.1\r\nHost: a\r\n"
	if user != "" {
		req += "X-User: " + user + "\r\n"
	}
	resp := g.Do(req + "\r\n")
	if resp.StatusCode != 200 {
		t.Fatalf("%s as %q: status %d", path, user, resp.StatusCode)
	}
	var bad strings.Builder
	for k, v := range resp.Header {
		if strings.HasPrefix(k, "X-Bad-") {
			fmt.Fprintf(&bad, "%s=%v ", k, v)
		}
	}
	if bad.Len() > 0 {
		t.Fatalf("%s as %q: private numbers overwritten: %s", path, user, bad.String())
	}
	return resp.Header.Get("X-Tags"), struct{}{}
}

func TestConsumerPoliciesRunOnlyForTheirConsumer(t *testing.T) {
	g := consumerGateway(t, `  - name: gold
    policies:
      - `+ctest("own", "tag", "gold", 900)+`
  - name: silver
`)
	for _, tc := range []struct{ path, user, want string }{
		{"/a", "", "route"},
		{"/a", "silver", "route"},
		{"/a", "gold", "route,gold"},
		{"/b", "gold", "early,limit,gold"},
		{"/a", "nobody", "route"},
		{"/a", "gold", "route,gold"}, // the context of a joined request is reused
		{"/a", "", "route"},
	} {
		if got, _ := tagsOf(t, g, tc.path, tc.user); got != tc.want {
			t.Errorf("%s as %q: tags %q, want %q", tc.path, tc.user, got, tc.want)
		}
	}
}

func TestConsumerPolicyReplacesTheRoutePolicyWithItsIdentity(t *testing.T) {
	g := consumerGateway(t, `  - name: gold
    policies:
      - `+ctest("limit", "tag", "gold-limit", 1000)+`
      - `+ctest("early", "tag", "gold-early", 1000)+`
`)
	// "limit" has not run when gold is named: gold's replaces it. "early"
	// (2500) ran before identify (2000): both run, so that its later
	// handlers (here its log) still see the request through.
	got, _ := tagsOf(t, g, "/b", "gold")
	if got != "early,gold-limit,gold-early" {
		t.Fatalf("gold on /b: tags %q, want the route's limit replaced and its early kept", got)
	}
	if got, _ := tagsOf(t, g, "/b", ""); got != "early,limit" {
		t.Fatalf("no consumer on /b: tags %q", got)
	}
}

func TestConsumerHandlerSortedBeforeTheAuthRunsRightAfterIt(t *testing.T) {
	g := consumerGateway(t, `  - name: gold
    policies:
      - `+ctest("first", "tag", "first", 5000)+`
`)
	if got, _ := tagsOf(t, g, "/a", "gold"); got != "first,route" {
		t.Fatalf("tags %q, want the consumer's high-priority handler right after the auth", got)
	}
}

func TestConsumerPoliciesLogPhaseRuns(t *testing.T) {
	g := consumerGateway(t, `  - name: gold
    policies:
      - `+ctest("own", "tag", "logged-gold", 900)+`
`)
	consumerLogged.Lock()
	before := consumerLogged.n["logged-gold"]
	consumerLogged.Unlock()
	for i := 0; i < 3; i++ {
		tagsOf(t, g, "/a", "gold")
	}
	tagsOf(t, g, "/a", "")
	consumerLogged.Lock()
	defer consumerLogged.Unlock()
	if n := consumerLogged.n["logged-gold"] - before; n != 3 {
		t.Fatalf("the consumer's log handler ran %d times for 3 requests", n)
	}
}

func TestAnonymousConsumerReplacedBeforeItsPoliciesRan(t *testing.T) {
	yml := `listen: 127.0.0.1:1
workers: 1
upstreams: [ { name: up, targets: [ { addr: "127.0.0.1:9" } ] } ]
global_policies:
  - ` + ctest("report", "report", "", 0) + `
routes:
  - name: a
    match: { paths: ["/a"] }
    upstream: up
    policies:
      - ` + ctest("auth1", "identify", "", 2000) + `
      - ` + ctest("auth2", "identify-again", "", 1900) + `
      - ` + ctest("route-tag", "tag", "route", 1000) + `
consumers:
  - name: anon
    policies: [ ` + ctest("own", "tag", "anon", 900) + ` ]
  - name: gold
    policies: [ ` + ctest("own", "tag", "gold", 900) + ` ]
`
	g := enginetest.New(t, yml, policies.Build, nil)
	resp := g.Do("GET /a HTTP/1.1\r\nHost: a\r\nX-User: anon\r\nX-Real-User: gold\r\n\r\n")
	if got := resp.Header.Get("X-Tags"); got != "route,gold" || resp.Header.Get("X-Consumer") != "gold" {
		t.Fatalf("tags %q consumer %q, want gold's policies only", got, resp.Header.Get("X-Consumer"))
	}
	resp = g.Do("GET /a HTTP/1.1\r\nHost: a\r\nX-User: anon\r\n\r\n")
	if got := resp.Header.Get("X-Tags"); got != "route,anon" {
		t.Fatalf("anonymous alone: tags %q", got)
	}
	// Back to a consumer without policies (silver is unknown: nil).
	resp = g.Do("GET /a HTTP/1.1\r\nHost: a\r\nX-User: anon\r\nX-Real-User: nobody\r\n\r\n")
	if got := resp.Header.Get("X-Tags"); got != "route" {
		t.Fatalf("anonymous replaced by no consumer: tags %q", got)
	}
}

func TestConsumerRewriteHandlersRunRightAfterTheAuth(t *testing.T) {
	g := consumerGateway(t, `  - name: gold
    policies:
      - `+ctest("rw", "rewrite-tag", "rewritten", 10)+`
`)
	if got, _ := tagsOf(t, g, "/b", "gold"); got != "early,rewritten,limit" {
		t.Fatalf("tags %q, want the consumer's rewrite handler right after the auth", got)
	}
}

func TestConsumerPoliciesFollowReloads(t *testing.T) {
	g := consumerGateway(t, `  - name: gold
    policies: [ `+ctest("own", "tag", "v1", 900)+` ]
`)
	if got, _ := tagsOf(t, g, "/a", "gold"); got != "route,v1" {
		t.Fatalf("v1: %q", got)
	}
	yml := strings.Replace(consumerYAMLForReload, "{own}", ctest("own", "tag", "v2", 900), 1)
	if err := g.Reload(yml); err != nil {
		t.Fatal(err)
	}
	if got, _ := tagsOf(t, g, "/a", "gold"); got != "route,v2" {
		t.Fatalf("after reload: %q", got)
	}
}

const consumerYAMLForReload = `listen: 127.0.0.1:1
workers: 1
upstreams: [ { name: up, targets: [ { addr: "127.0.0.1:9" } ] } ]
global_policies:
  - { name: test-consumer, id: report, config: { mode: report } }
routes:
  - name: a
    match: { paths: ["/a"] }
    upstream: up
    policies:
      - { name: test-consumer, id: auth, config: { mode: identify, priority: 2000 } }
      - { name: test-consumer, id: route-tag, config: { mode: tag, tag: route, priority: 1000 } }
consumers:
  - name: gold
    policies: [ {own} ]
`

// A client must not name its consumer to an upstream that trusts
// X-Consumer-Name, on a route without an auth policy either.
func TestClientConsumerFieldsNeverReachTheUpstream(t *testing.T) {
	seen := make(chan http.Header, 4)
	up := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen <- r.Header.Clone() })
	const routes = `listen: 127.0.0.1:1
workers: 1
upstreams: [ { name: up, targets: [ { addr: "127.0.0.1:9" } ] } ]
routes: [ { match: { paths: ["/*"] }, upstream: up } ]
`
	spoof := "GET /x HTTP/1.1\r\nHost: a\r\nX-Consumer-Name: admin\r\nx-consumer-groups: staff\r\nX-Anonymous-Consumer: false\r\nX-Consumers: kept\r\nX-Other: kept\r\n\r\n"
	g := enginetest.New(t, routes+"consumers: [ { name: gold } ]\n", policies.Build, up)
	g.Do(spoof)
	h := <-seen
	for _, name := range []string{"X-Consumer-Name", "X-Consumer-Groups", "X-Anonymous-Consumer"} {
		if v := h.Get(name); v != "" {
			t.Errorf("the upstream got the client's %s: %q", name, v)
		}
	}
	if h.Get("X-Other") != "kept" || h.Get("X-Consumers") != "kept" {
		t.Errorf("other fields were removed: %v", h)
	}
	// Without consumers in the config, nothing names a consumer: the
	// fields are the client's business and pass.
	g = enginetest.New(t, routes, policies.Build, up)
	g.Do(spoof)
	if h := <-seen; h.Get("X-Consumer-Name") != "admin" {
		t.Errorf("without consumers: X-Consumer-Name %q", h.Get("X-Consumer-Name"))
	}
}
