package policies_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/sluice-gw/sluice/engine/enginetest"
	"github.com/sluice-gw/sluice/policies"
)

// The cache key must be injective: two requests whose key values differ
// never share an entry, whatever bytes a client puts in a value. With
// values joined by '|' as they were, one client could store an answer
// that another client, with other values, then received (cache
// poisoning).

// echoFieldsUpstream answers with the request's A and B fields and its
// query, so that a wrong hit shows as another request's body.
func echoFieldsUpstream() *countingUpstream {
	return &countingUpstream{set: func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"a":` + quoteJSON(r.Header.Values("A")) + `,"b":` + quoteJSON(r.Header.Values("B")) + `,"q":` + quoteJSON([]string{r.URL.RawQuery}) + `}`))
	}}
}

func quoteJSON(v []string) string {
	s := "["
	for i, x := range v {
		if i > 0 {
			s += ","
		}
		s += `"` + x + `"`
	}
	return s + "]"
}

// keyCase is a request that must not be answered from another's entry.
type keyCase struct {
	name            string
	cfg, extra      string
	first, second   []string // the requests' fields
	target, target2 string
}

func TestCacheKeyValuesCannotCollide(t *testing.T) {
	for _, tc := range []keyCase{
		{name: "vary values holding the separator", cfg: `{ vary: [A, B] }`,
			first: []string{"A: x|", "B: y"}, second: []string{"A: x", "B: |y"}},
		{name: "vary: an absent field is not an empty one", cfg: `{ vary: [A, B] }`,
			first: []string{"A:", "B: y"}, second: []string{"B: y"}},
		{name: "vary: every field line counts", cfg: `{ vary: [A] }`,
			first: []string{"A: x", "A: y"}, second: []string{"A: x", "A: z"}},
		{name: "key template values holding its literal", cfg: `{ key: "{arg_a}:{arg_b}" }`,
			target: "/k?a=x:&b=y", target2: "/k?a=x&b=:y"},
		{name: "key template variables side by side", cfg: `{ key: "{arg_a}{arg_b}" }`,
			target: "/k?a=xy&b=", target2: "/k?a=x&b=y"},
		{name: "key template: an absent variable is not an empty one", cfg: `{ key: "{arg_a}:{arg_b}" }`,
			target: "/k?a=x&b=", target2: "/k?a=x"},
		{name: "consumer name holding the separator", cfg: `{ key: "{arg_q}" }`, extra: "      - { name: limit-test-consumer }\n",
			first: []string{"X-Consumer: x|y"}, second: []string{"X-Consumer: x"}, target: "/k?q=z", target2: "/k?q=y|z"},
		{name: "declared parameters holding & and =", cfg: `{}`, extra: `      - name: params
        config: { params: [ { name: a }, { name: b } ] }
`,
			target: "/k?a=x%26b%3Dy", target2: "/k?a=x&b=y"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := echoFieldsUpstream()
			g := enginetest.New(t, cacheYAML(tc.cfg, tc.extra), policies.Build, up)
			target, target2 := tc.target, tc.target2
			if target == "" {
				target, target2 = "/k", "/k"
			}
			resp, body1 := cacheGet(t, g, "GET", target, tc.first...)
			wantCache(t, resp, "MISS")
			resp, _ = cacheGet(t, g, "GET", target, tc.first...)
			wantCache(t, resp, "HIT") // stored
			resp, body2 := cacheGet(t, g, "GET", target2, tc.second...)
			if resp.Header.Get("X-Cache-Status") != "MISS" || body2 == body1 {
				t.Fatalf("%s %v answered %s %s: the entry of %s %v", target2, tc.second, resp.Header.Get("X-Cache-Status"), body2, target, tc.first)
			}
		})
	}
}

// The same values in the same order still share an entry: the key is
// injective, not random. A: x + A: y is A: x, y (RFC 9111 §4.1).
func TestCacheKeyEqualValuesShareAnEntry(t *testing.T) {
	up := echoFieldsUpstream()
	g := cacheGateway(t, `{ vary: [A, B] }`, up)
	cacheGet(t, g, "GET", "/k", "A: x, y", "B: |")
	resp, _ := cacheGet(t, g, "GET", "/k", "a: x", "b: |", "A: y")
	wantCache(t, resp, "HIT")
}

// PurgeCache matches the key's text (host, path, query) whatever the
// vary values: every variant goes, by key and by prefix, and no other key.
func TestCachePurgeEveryVaryVariant(t *testing.T) {
	up := echoFieldsUpstream()
	g := cacheGateway(t, `{ vary: [A, B] }`, up)
	variants := [][]string{{"A: 1", "B: |x"}, {"A: 1|", "B: x"}, {"B: 2"}, {}}
	for _, target := range []string{"/p?x", "/p?x|y", "/q"} {
		for _, f := range variants {
			cacheGet(t, g, "GET", target, f...)
		}
	}
	l1, _, err := policies.PurgeCache(context.Background(), "route:api/cache", "a/p?x", false)
	if err != nil || l1 != len(variants) {
		t.Fatalf("purge of a/p?x: %d entries, %v; want the %d variants", l1, err, len(variants))
	}
	for _, f := range variants {
		resp, _ := cacheGet(t, g, "GET", "/p?x", f...)
		wantCache(t, resp, "MISS")
		resp, _ = cacheGet(t, g, "GET", "/p?x|y", f...)
		wantCache(t, resp, "HIT")
	}
	if l1, _, _ := policies.PurgeCache(context.Background(), "route:api/cache", "a/p?", true); l1 != 2*len(variants) {
		t.Fatalf("purge by the prefix a/p?: %d entries, want %d", l1, 2*len(variants))
	}
	resp, _ := cacheGet(t, g, "GET", "/q", "B: 2")
	wantCache(t, resp, "HIT")
}

// A templated key is purged by its text, whatever the consumer.
func TestCachePurgeTemplatedKeyEveryConsumer(t *testing.T) {
	up := echoFieldsUpstream()
	g := enginetest.New(t, cacheYAML(`{ key: "{arg_a}:{arg_b}" }`, "      - { name: limit-test-consumer }\n"), policies.Build, up)
	for _, c := range []string{"X-Consumer: alice", "X-Consumer: b|o:b"} {
		cacheGet(t, g, "GET", "/t?a=1&b=2", c)
		cacheGet(t, g, "GET", "/t?a=1&b=3", c)
	}
	if l1, _, _ := policies.PurgeCache(context.Background(), "route:api/cache", "1:2", false); l1 != 2 {
		t.Fatalf("purge of 1:2: %d entries, want 2", l1)
	}
	resp, _ := cacheGet(t, g, "GET", "/t?a=1&b=3", "X-Consumer: b|o:b")
	wantCache(t, resp, "HIT")
}
