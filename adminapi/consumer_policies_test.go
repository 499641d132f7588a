package adminapi_test

import (
	"strings"
	"testing"
)

// A consumer's own policies through the Admin API: validated as in a file
// (errors at their path) and compiled (the requests they serve are
// engine/consumer_test.go's and policies/consumer_policies_test.go's); an
// empty routes item in a whole config is an error, not a crash.
func TestConsumerPoliciesThroughTheAPI(t *testing.T) {
	f := newFixture(t)
	st, body := f.do(t, "PATCH", "/consumers/alice", `{"policies": [{"name": "limit-count", "config": {"count": 0}}]}`)
	expect(t, "a bad consumer policy", st, body, 400, "consumers[0].policies[0].config.count")
	st, body = f.do(t, "PATCH", "/consumers/alice", `{"policies": [{"name": "key-auth"}]}`)
	expect(t, "an auth policy under a consumer", st, body, 400, "key-auth authenticates")
	st, body = f.do(t, "PATCH", "/consumers/alice", `{"policies": [{"name": "headers", "config": {"request": {"set": {"X-Tier": "gold"}}}}]}`)
	expect(t, "a consumer policy", st, body, 200, `"X-Tier"`)
	st, body = f.do(t, "PUT", "/config", `{"upstreams": [{"name": "u", "targets": [{"addr": "127.0.0.1:9001"}]}], "routes": [null]}`)
	expect(t, "a null route", st, body, 400, "routes[0]", "is empty")
	if strings.Contains(body, "panic") {
		t.Fatal(body)
	}
}
