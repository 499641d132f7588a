package policies_test

import (
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/internal/freeport"
)

// Aggregation end to end: a real gateway on loopback, real net/http
// upstreams, a raw client.

// jsonUpstream answers body after delay, with status.
func jsonUpstream(t testing.TB, delay time.Duration, status int, body string) string {
	return startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	})
}

// aggGateway runs a gateway whose route /agg/{id} aggregates with the
// given policy config (YAML, indented to sit under "config:"), with the
// named upstreams at the given addresses.
func aggGateway(t testing.TB, upstreams map[string]string, extra, policyConfig string) *gateway {
	yml := "listen: {listen}\nworkers: 1\n" + extra + "upstreams:\n"
	for name, addr := range upstreams {
		yml += "  - { name: " + name + ", targets: [ { addr: \"" + addr + "\" } ], retries: { tries: 1 } }\n"
	}
	yml += `routes:
  - name: agg
    match: { paths: ["/agg/{id}"] }
    policies:
      - name: aggregate
        config:
` + policyConfig
	return startGateway(t, "", yml)
}

func decodeObject(t *testing.T, body string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("not a JSON object: %v: %s", err, body)
	}
	return m
}

func TestAggregateRunsCallsInParallel(t *testing.T) {
	const delay = 150 * time.Millisecond
	a := jsonUpstream(t, delay, 200, `{"user":"alice"}`)
	b := jsonUpstream(t, delay, 200, `{"orders":3}`)
	c := jsonUpstream(t, delay, 200, `{"cart":[1,2]}`)
	g := aggGateway(t, map[string]string{"users": a, "orders": b, "carts": c}, "", `          calls:
            - { name: user, upstream: users, path: "/users/{path_param_id}" }
            - { name: orders, upstream: orders, path: "/orders", query: "user={path_param_id}" }
            - { name: cart, upstream: carts, path: "/cart" }
`)
	cl := dial(t, g.addr)
	cl.do("GET", "/agg/7") // warm the sub-request connections
	start := time.Now()
	resp, body := cl.do("GET", "/agg/7")
	took := time.Since(start)
	if resp.StatusCode != 200 || body != `{"user":"alice","orders":3,"cart":[1,2]}` {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if resp.Header.Get("X-Sluice-Completed") != "true" || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("fields %v", resp.Header)
	}
	// Sequential calls would take 3×150ms; parallel ones about 150ms. The
	// margin is for a loaded 2-core machine.
	if took >= 2*delay+delay/2 {
		t.Fatalf("three calls of %v took %v: not in parallel", delay, took)
	}
	t.Logf("3 calls of %v each: %v", delay, took)
}

func TestAggregateSendsTemplatesHeadersAndBody(t *testing.T) {
	seen := make(chan string, 4)
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seen <- r.Method + " " + r.URL.RequestURI() + " auth=" + r.Header.Get("Authorization") + " x=" + r.Header.Get("X-Page") + " ct=" + r.Header.Get("Content-Type") + " body=" + string(b)
		w.Write([]byte(`{"ok":true}`))
	})
	g := aggGateway(t, map[string]string{"up": up}, "", `          calls:
            - name: create
              upstream: up
              method: post
              path: "/items/{path_param_id}"
              query: "page={arg_page}"
              pass_headers: [Authorization]
              headers: { X-Page: "p{arg_page}" }
              body: '{{"id":"{path_param_id}"}}'
`)
	resp, body := dial(t, g.addr).do("GET", "/agg/42?page=3", "Authorization: Bearer t")
	if resp.StatusCode != 200 || body != `{"ok":true}` {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	want := `POST /items/42?page=3 auth=Bearer t x=p3 ct=application/json body={"id":"42"}`
	if got := <-seen; got != want {
		t.Fatalf("upstream saw\n %s\nwant\n %s", got, want)
	}
}

func TestAggregatePartialFailure(t *testing.T) {
	ok := jsonUpstream(t, 0, 200, `{"user":"alice"}`)
	broken := jsonUpstream(t, 0, 500, `{"error":"boom"}`)
	slow := jsonUpstream(t, 2*time.Second, 200, `{"late":true}`)
	notJSON := startUpstream(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>")) })
	g := aggGateway(t, map[string]string{"users": ok, "broken": broken, "slow": slow, "html": notJSON, "dead": freeport.Addr(t)}, "", `          calls:
            - { name: user, upstream: users, path: "/u" }
            - { name: recs, upstream: broken, path: "/r" }
            - { name: late, upstream: slow, path: "/s", timeout: 100ms }
            - { name: page, upstream: html, path: "/h" }
            - { name: gone, upstream: dead, path: "/d" }
`)
	start := time.Now()
	resp, body := dial(t, g.addr).do("GET", "/agg/1")
	if resp.StatusCode != 200 || body != `{"user":"alice"}` {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if c, f := resp.Header.Get("X-Sluice-Completed"), resp.Header.Get("X-Sluice-Failed"); c != "false" || f != "recs,late,page,gone" {
		t.Fatalf("X-Sluice-Completed %q, X-Sluice-Failed %q", c, f)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("the optional call's 100ms timeout did not bound the answer: %v", took)
	}
}

func TestAggregateRequiredFailureIs502(t *testing.T) {
	ok := jsonUpstream(t, 0, 200, `{"user":"alice"}`)
	broken := jsonUpstream(t, 0, 503, `{}`)
	g := aggGateway(t, map[string]string{"users": ok, "broken": broken}, "", `          calls:
            - { name: user, upstream: users, path: "/u" }
            - { name: billing, upstream: broken, path: "/b", required: true }
`)
	resp, body := dial(t, g.addr).do("GET", "/agg/1")
	if resp.StatusCode != 502 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %v %s", resp.StatusCode, resp.Header, body)
	}
	m := decodeObject(t, body)
	if m["error"] != "aggregate: required call billing: status 503" || resp.Header.Get("X-Sluice-Failed") != "billing" {
		t.Fatalf("%s %v", body, resp.Header)
	}
}

func TestAggregateRequiredTimeoutIs504(t *testing.T) {
	slow := jsonUpstream(t, 3*time.Second, 200, `{}`)
	ok := jsonUpstream(t, 0, 200, `{"a":1}`)
	g := aggGateway(t, map[string]string{"slow": slow, "ok": ok}, "", `          timeout: 200ms
          calls:
            - { name: a, upstream: ok, path: "/a" }
            - { name: s, upstream: slow, path: "/s", required: true }
`)
	start := time.Now()
	resp, body := dial(t, g.addr).do("GET", "/agg/1")
	took := time.Since(start)
	if resp.StatusCode != 504 || !strings.Contains(body, "required call s: timed out") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if took < 150*time.Millisecond || took > 2*time.Second {
		t.Fatalf("answered after %v; the policy timeout is 200ms", took)
	}
}

func TestAggregateTotalTimeoutBoundsSteps(t *testing.T) {
	// Two steps of 150ms under a 200ms budget: the second step has 50ms
	// left and its call times out; being optional, it is left out.
	first := jsonUpstream(t, 150*time.Millisecond, 200, `{"id":5}`)
	second := jsonUpstream(t, 150*time.Millisecond, 200, `{"more":1}`)
	g := aggGateway(t, map[string]string{"a": first, "b": second}, "", `          timeout: 200ms
          calls:
            - { name: a, upstream: a, path: "/a" }
            - { name: b, upstream: b, path: "/b/{{resp.a.id}}" }
`)
	start := time.Now()
	resp, body := dial(t, g.addr).do("GET", "/agg/1")
	if resp.StatusCode != 200 || body != `{"id":5}` || resp.Header.Get("X-Sluice-Failed") != "b" {
		t.Fatalf("%d %s %v", resp.StatusCode, body, resp.Header)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("took %v with a 200ms budget", took)
	}
}

func TestAggregateSequentialSteps(t *testing.T) {
	var userCalls atomic.Int32
	users := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		userCalls.Add(1)
		w.Write([]byte(`{"user":{"id":"u 7","name":"Ann"},"group":12}`))
	})
	orders := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write([]byte(`{"uri":"` + r.URL.RequestURI() + `","body":` + jsonQuote(string(b)) + `}`))
	})
	g := aggGateway(t, map[string]string{"users": users, "orders": orders}, "", `          calls:
            - { name: me, upstream: users, path: "/me", hidden: true }
            - name: orders
              upstream: orders
              method: POST
              path: "/orders/{{resp.me.user.id}}"
              query: "group={{resp.me.group}}"
              body: '{{"name":{{resp.me.user.name}},"g":{{resp.me.group}}}}'
              group: orders
            - { name: profile, upstream: users, path: "/p", group: profile, target: user }
`)
	resp, body := dial(t, g.addr).do("GET", "/agg/1")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	want := `{"orders":{"uri":"/orders/u%207?group=12","body":"{\"name\":\"Ann\",\"g\":12}"},"profile":{"id":"u 7","name":"Ann"}}`
	if body != want {
		t.Fatalf("got\n %s\nwant\n %s", body, want)
	}
	if n := userCalls.Load(); n != 2 {
		t.Fatalf("users called %d times", n)
	}
}

// A call's path and query without variables are made once, at config
// time; with and without a '?' in the path, and with an empty query, they
// reach the upstream as the templated ones do.
func TestAggregateConstantTargets(t *testing.T) {
	echo := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"uri":` + jsonQuote(r.URL.RequestURI()) + `}`))
	})
	g := aggGateway(t, map[string]string{"echo": echo}, "", `          calls:
            - { name: plain, upstream: echo, path: "/a", group: plain }
            - { name: query, upstream: echo, path: "/b", query: "x=1&y=2", group: query }
            - { name: both, upstream: echo, path: "/c?z=3", query: "?x=1", group: both }
            - { name: templated, upstream: echo, path: "/d/{path_param_id}", query: "x=1", group: templated }
`)
	resp, body := dial(t, g.addr).do("GET", "/agg/7")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	got := decodeObject(t, body)
	for group, uri := range map[string]string{"plain": "/a", "query": "/b?x=1&y=2", "both": "/c?z=3&x=1", "templated": "/d/7?x=1"} {
		if m, _ := got[group].(map[string]any); m == nil || m["uri"] != uri {
			t.Errorf("%s: %v, want uri %s", group, got[group], uri)
		}
	}
}

func jsonQuote(s string) string { b, _ := json.Marshal(s); return string(b) }

func TestAggregateDependentOfFailedCallIsSkipped(t *testing.T) {
	broken := jsonUpstream(t, 0, 500, `{}`)
	var called atomic.Int32
	next := startUpstream(t, func(w http.ResponseWriter, r *http.Request) { called.Add(1); w.Write([]byte(`{}`)) })
	ok := jsonUpstream(t, 0, 200, `{"a":1}`)
	g := aggGateway(t, map[string]string{"broken": broken, "next": next, "ok": ok}, "", `          calls:
            - { name: a, upstream: ok, path: "/" }
            - { name: me, upstream: broken, path: "/" }
            - { name: dep, upstream: next, path: "/x/{{resp.me.id}}" }
`)
	resp, body := dial(t, g.addr).do("GET", "/agg/1")
	if resp.StatusCode != 200 || body != `{"a":1}` || resp.Header.Get("X-Sluice-Failed") != "me,dep" {
		t.Fatalf("%d %s %v", resp.StatusCode, body, resp.Header)
	}
	if called.Load() != 0 {
		t.Fatal("a call whose input failed was sent")
	}
}

func TestAggregateAllowDenyMappingTargetGroup(t *testing.T) {
	a := jsonUpstream(t, 0, 200, `{"id":1,"name":"Ann","secret":"x","email":"a@b"}`)
	b := jsonUpstream(t, 0, 200, `{"data":{"items":[{"sku":"k1"},{"sku":"k2"}],"total":2}}`)
	c := jsonUpstream(t, 0, 200, `{"name":"from c","id":99,"extra":true}`)
	d := jsonUpstream(t, 0, 200, `{"data":{"stats":{"views":10,"internal":1}}}`)
	g := aggGateway(t, map[string]string{"a": a, "b": b, "c": c, "d": d}, "", `          calls:
            - { name: a, upstream: a, path: "/", deny: [secret], mapping: { email: mail } }
            - { name: b, upstream: b, path: "/", target: data.items, group: items }
            - { name: c, upstream: c, path: "/", allow: [name, extra] }
            - { name: d, upstream: d, path: "/", target: data.stats, group: stats, deny: [internal] }
`)
	resp, body := dial(t, g.addr).do("GET", "/agg/1")
	// Shallow merge in config order: "name" keeps its first position and
	// takes c's value (the later call wins).
	want := `{"id":1,"name":"from c","mail":"a@b","items":[{"sku":"k1"},{"sku":"k2"}],"extra":true,"stats":{"views":10}}`
	if resp.StatusCode != 200 || body != want {
		t.Fatalf("%d\n got %s\nwant %s", resp.StatusCode, body, want)
	}
}

func TestAggregateCollisionRuleIsConfigOrderNotArrival(t *testing.T) {
	// The first call answers last: its value still loses to the later call.
	slowFirst := jsonUpstream(t, 100*time.Millisecond, 200, `{"v":"first","a":1}`)
	fastSecond := jsonUpstream(t, 0, 200, `{"v":"second","b":2}`)
	g := aggGateway(t, map[string]string{"one": slowFirst, "two": fastSecond}, "", `          calls:
            - { name: one, upstream: one, path: "/" }
            - { name: two, upstream: two, path: "/" }
`)
	cl := dial(t, g.addr)
	for i := 0; i < 3; i++ {
		if _, body := cl.do("GET", "/agg/1"); body != `{"v":"second","a":1,"b":2}` {
			t.Fatalf("request %d: %s", i, body)
		}
	}
}

func TestAggregateBounds(t *testing.T) {
	deep := jsonUpstream(t, 0, 200, `{"a":`+strings.Repeat("[", 10)+strings.Repeat("]", 10)+`}`)
	big := jsonUpstream(t, 0, 200, `{"a":"`+strings.Repeat("x", 5000)+`"}`)
	list := jsonUpstream(t, 0, 200, `[1,2]`)
	missing := jsonUpstream(t, 0, 200, `{"data":{}}`)
	g := aggGateway(t, map[string]string{"deep": deep, "big": big, "list": list, "missing": missing}, "", `          max_depth: 5
          calls:
            - { name: deep, upstream: deep, path: "/" }
            - { name: big, upstream: big, path: "/", max_body: 1KiB }
            - { name: list, upstream: list, path: "/" }
            - { name: missing, upstream: missing, path: "/", target: data.items, group: items }
            - { name: listed, upstream: list, path: "/", group: numbers }
`)
	resp, body := dial(t, g.addr).do("GET", "/agg/1")
	if resp.StatusCode != 200 || body != `{"numbers":[1,2]}` || resp.Header.Get("X-Sluice-Failed") != "deep,big,list,missing" {
		t.Fatalf("%d %s %v", resp.StatusCode, body, resp.Header)
	}
}

func TestAggregateAnswerPassesHeaderFilters(t *testing.T) {
	ok := jsonUpstream(t, 0, 200, `{"a":1}`)
	g := aggGateway(t, map[string]string{"ok": ok}, "", `          calls:
            - { name: a, upstream: ok, path: "/" }
      - name: cors
        config: { allow_origins: ["https://app.example.com"] }
      - name: request-id
`)
	resp, body := dial(t, g.addr).do("GET", "/agg/1", "Origin: https://app.example.com")
	if resp.StatusCode != 200 || body != `{"a":1}` {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" || resp.Header.Get("X-Request-Id") == "" {
		t.Fatalf("the header filters did not see the answer: %v", resp.Header)
	}
}

func TestAggregateManyRequestsReuseState(t *testing.T) {
	// Pooled per-request state: answers of successive keep-alive requests
	// with different inputs never mix.
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"id":"` + strings.TrimPrefix(r.URL.Path, "/") + `"}`))
	})
	g := aggGateway(t, map[string]string{"up": up}, "", `          calls:
            - { name: a, upstream: up, path: "/{path_param_id}", group: a }
            - { name: b, upstream: up, path: "/b{{resp.a.id}}", group: b }
`)
	cl := dial(t, g.addr)
	for i := 0; i < 50; i++ {
		id := strings.Repeat("x", i%7) + string(rune('a'+i%26))
		want := `{"a":{"id":"` + id + `"},"b":{"id":"b` + id + `"}}`
		if _, body := cl.do("GET", "/agg/"+id); body != want {
			t.Fatalf("request %d: %s, want %s", i, body, want)
		}
	}
}

// TestAggregateLatencyThreeBackends20ms is the latency bar: an
// aggregate of three backends that each answer in 20ms completes in about
// 20ms, not 60. It reports p50 and p99 over 200 requests on 4 connections
// and asserts loosely (a loaded 2-core machine): p50 under 40ms, without
// the race detector.
func TestAggregateLatencyThreeBackends20ms(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test")
	}
	const delay = 20 * time.Millisecond
	ups := map[string]string{}
	for _, n := range []string{"a", "b", "c"} {
		ups[n] = jsonUpstream(t, delay, 200, `{"`+n+`":1}`)
	}
	g := aggGateway(t, ups, "", `          calls:
            - { name: a, upstream: a, path: "/a" }
            - { name: b, upstream: b, path: "/b" }
            - { name: c, upstream: c, path: "/c" }
`)
	const conns, perConn = 4, 50
	lat := make([]time.Duration, 0, conns*perConn)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for c := 0; c < conns; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := dial(t, g.addr)
			cl.do("GET", "/agg/1") // warm
			for i := 0; i < perConn; i++ {
				start := time.Now()
				resp, body := cl.do("GET", "/agg/1")
				d := time.Since(start)
				if resp.StatusCode != 200 || body != `{"a":1,"b":1,"c":1}` {
					t.Errorf("%d %s", resp.StatusCode, body)
					return
				}
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
	t.Logf("3 backends of %v, %d requests on %d connections: p50 %v, p99 %v, max %v", delay, len(lat), conns, p50, p99, lat[len(lat)-1])
	if raceDetector {
		return // reported, not asserted
	}
	if p50 >= 2*delay {
		t.Fatalf("p50 %v: the calls are not parallel (sequential would be %v)", p50, 3*delay)
	}
}

// BenchmarkAggregate is an aggregate of three immediate backends merged
// into one JSON answer, per request on one keep-alive connection, beside
// a plain proxied request to one of the backends: the difference is what
// aggregation costs (three sub-requests and the merge).
func BenchmarkAggregate(b *testing.B) {
	ups := map[string]string{}
	for _, n := range []string{"a", "b", "c"} {
		ups[n] = jsonUpstream(b, 0, 200, `{"`+n+`":{"id":1,"name":"x","tags":["p","q"]}}`)
	}
	g := startGateway(b, ups["a"], `listen: {listen}
workers: 1
upstreams:
  - { name: a, targets: [ { addr: "`+ups["a"]+`" } ] }
  - { name: b, targets: [ { addr: "`+ups["b"]+`" } ] }
  - { name: c, targets: [ { addr: "`+ups["c"]+`" } ] }
routes:
  - match: { paths: ["/agg"] }
    policies:
      - name: aggregate
        config:
          calls:
            - { name: a, upstream: a, path: "/a" }
            - { name: b, upstream: b, path: "/b" }
            - { name: c, upstream: c, path: "/c" }
  - match: { paths: ["/proxy"] }
    upstream: a
`)
	for _, bc := range []struct{ name, target string }{{"route=proxy-one", "/proxy"}, {"route=aggregate-three", "/agg"}} {
		b.Run(bc.name, func(b *testing.B) {
			cl := dial(b, g.addr)
			cl.do("GET", bc.target)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if resp, _ := cl.do("GET", bc.target); resp.StatusCode != 200 {
					b.Fatal(resp.StatusCode)
				}
			}
		})
	}
}

func TestAggregateFailureReasonsHideAddresses(t *testing.T) {
	dead := freeport.Addr(t)
	g := aggGateway(t, map[string]string{"dead": dead}, "", `          calls:
            - { name: gone, upstream: dead, path: "/", required: true }
`)
	resp, body := dial(t, g.addr).do("GET", "/agg/1")
	if resp.StatusCode != 502 || !strings.Contains(body, `"aggregate: required call gone: connect failed"`) || strings.Contains(body, dead) {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}
