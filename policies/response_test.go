package policies_test

import (
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/engine/enginetest"
	"github.com/sluice-gw/sluice/policies"
)

func responseYAML(responseCfg string) string {
	return `upstreams: [ { name: up, targets: [ { addr: "127.0.0.1:9" } ] } ]
routes:
  - name: mock
    match: { paths: ["/*"] }
    upstream: up
    policies:
      - name: response
        config: ` + responseCfg + "\n"
}

// TestResponseContentTypeInjectionRefused pins the audit's finding:
// content_type, and a Content-Type given in headers, were written into the
// answer's head unchecked, so a CR LF in them sent fields of their own.
func TestResponseContentTypeInjectionRefused(t *testing.T) {
	for _, tc := range []struct{ cfg, want string }{
		{`{ body: x, content_type: "text/plain\r\nX-Injected: 1" }`, `config.content_type: value "text/plain\r\nX-Injected: 1" has bytes not allowed in a field value`},
		{`{ content_type: "text/plain\nX-Injected: 1" }`, `config.content_type: value`},
		{`{ content_type: "text/plain\r" }`, `config.content_type: value`},
		{`{ content_type: "text/plain\0" }`, `config.content_type: value`},
		{`{ content_type: "text/\x7fplain" }`, `config.content_type: value`},
		{`{ content_type: " text/plain" }`, `config.content_type: value`},
		{`{ body: x, headers: { Content-Type: "text/plain\r\nX-Injected: 1" } }`, `config.headers.Content-Type: value`},
		{`{ headers: { content-type: "a/b\n\nbody" } }`, `config.headers.content-type: value`},
	} {
		t.Run(tc.cfg, func(t *testing.T) {
			err := cacheCompileErr(responseYAML(tc.cfg))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestResponseSendsOnlyTheConfiguredFields runs accepted configs through
// the gateway: the answer carries the configured fields and no other
// (beyond the framing the engine writes).
func TestResponseSendsOnlyTheConfiguredFields(t *testing.T) {
	for _, tc := range []struct {
		cfg  string
		want map[string]string
	}{
		{`{ body: x, content_type: "text/plain; charset=x-weird\tvalue" }`, map[string]string{"Content-Type": "text/plain; charset=x-weird\tvalue"}},
		{`{ body: x, headers: { Content-Type: "application/json", X-A: "1 2" } }`, map[string]string{"Content-Type": "application/json", "X-A": "1 2"}},
		{`{ status: 403, headers: { X-Reason: "no; X-Injected: 1" } }`, map[string]string{"X-Reason": "no; X-Injected: 1"}},
	} {
		t.Run(tc.cfg, func(t *testing.T) {
			g := enginetest.New(t, responseYAML(tc.cfg), policies.Build, nil)
			resp := g.Do("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
			resp.Body.Close()
			for name, vals := range resp.Header {
				switch name {
				case "Content-Length", "Connection", "Date", "Server", "X-Request-Id":
					continue
				}
				want, ok := tc.want[name]
				if !ok || len(vals) != 1 || vals[0] != want {
					t.Errorf("field %s: %q; want only %v", name, vals, tc.want)
				}
			}
			for name := range tc.want {
				if resp.Header.Get(name) == "" {
					t.Errorf("field %s missing: %v", name, resp.Header)
				}
			}
		})
	}
}
