package policies_test

import (
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/engine/enginetest"
	"github.com/sluice-gw/sluice/policies"
)

// The in-process gateway's client is 192.0.2.1 (enginetest's fake peer);
// the tests move the lists around it.
func ipGateway(t *testing.T, cfg string) *enginetest.Gateway {
	t.Helper()
	return authGateway(t, "      - name: ip-restriction\n        config: "+cfg+"\n", "")
}

func TestIPRestrictionPeer(t *testing.T) {
	peer := enginetestPeer(t)
	for _, tc := range []struct {
		name, cfg string
		status    int
	}{
		{"allowed exact", `{ allow: ["` + peer + `"] }`, 200},
		{"allowed CIDR", `{ allow: ["10.0.0.0/8", "` + peer + `/32"] }`, 200},
		{"not in allow", `{ allow: ["10.0.0.0/8", "2001:db8::/32"] }`, 403},
		{"denied", `{ deny: ["` + peer + `"] }`, 403},
		{"deny wins over allow", `{ allow: ["0.0.0.0/0"], deny: ["` + peer + `/32"] }`, 403},
		{"not denied", `{ deny: ["10.0.0.0/8"] }`, 200},
		{"allow all v4", `{ allow: ["0.0.0.0/0"] }`, 200},
		{"v6 list does not hold a v4 peer", `{ allow: ["2001:db8::/32", "fe80::/10"] }`, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, _, body := get(t, ipGateway(t, tc.cfg), "/")
			expectStatus(t, resp, body, tc.status)
		})
	}
}

// enginetestPeer is the address enginetest's client connections come from.
func enginetestPeer(t *testing.T) string {
	g := authGateway(t, "      - name: response-rewrite\n        config: { body: \"{remote_addr}\" }\n", "")
	_, _, body := get(t, g, "/")
	if body == "" {
		t.Fatal("no peer address")
	}
	return body
}

func TestIPRestrictionTrustedProxies(t *testing.T) {
	peer := enginetestPeer(t)
	cfg := `{ deny: ["203.0.113.0/24", "2001:db8:bad::/48"], trusted_proxies: ["` + peer + `", "10.0.0.0/8"] }`
	g := ipGateway(t, cfg)
	for _, tc := range []struct {
		name   string
		fields []string
		status int
	}{
		{"client denied behind the proxy", []string{"X-Forwarded-For: 203.0.113.9"}, 403},
		{"client allowed behind the proxy", []string{"X-Forwarded-For: 198.51.100.1"}, 200},
		{"right-most untrusted: spoofed left entry ignored", []string{"X-Forwarded-For: 198.51.100.1, 203.0.113.9"}, 403},
		{"right-most untrusted: a denied client cannot hide behind a forged entry", []string{"X-Forwarded-For: 1.2.3.4, 203.0.113.9, 10.1.1.1"}, 403},
		{"forged denied entry on the left is ignored", []string{"X-Forwarded-For: 203.0.113.9, 198.51.100.1, 10.1.1.1"}, 200},
		{"two fields are one list", []string{"X-Forwarded-For: 198.51.100.1", "X-Forwarded-For: 203.0.113.9"}, 403},
		{"IPv6 client", []string{"X-Forwarded-For: 2001:db8:bad::1"}, 403},
		{"IPv6 client allowed", []string{"X-Forwarded-For: 2001:db8:600d::1"}, 200},
		{"garbage right-most", []string{"X-Forwarded-For: 198.51.100.1, not-an-ip"}, 403},
		{"zone refused", []string{"X-Forwarded-For: fe80::1%eth0"}, 403},
		{"all trusted: the left-most", []string{"X-Forwarded-For: 10.0.0.1, 10.0.0.2"}, 200},
		{"no header: the peer", nil, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, _, body := get(t, g, "/", tc.fields...)
			expectStatus(t, resp, body, tc.status)
		})
	}
	t.Run("untrusted peer: header ignored", func(t *testing.T) {
		g := ipGateway(t, `{ allow: ["`+peer+`"], trusted_proxies: ["10.0.0.0/8"] }`)
		resp, _, body := get(t, g, "/", "X-Forwarded-For: 203.0.113.9")
		expectStatus(t, resp, body, 200)
		g = ipGateway(t, `{ deny: ["`+peer+`"], trusted_proxies: ["10.0.0.0/8"] }`)
		resp, _, body = get(t, g, "/", "X-Forwarded-For: 198.51.100.1")
		expectStatus(t, resp, body, 403)
	})
	t.Run("X-Real-IP", func(t *testing.T) {
		g := ipGateway(t, `{ deny: ["203.0.113.0/24"], trusted_proxies: ["`+peer+`"], real_ip_header: X-Real-IP }`)
		resp, _, body := get(t, g, "/", "X-Real-IP: 203.0.113.9", "X-Forwarded-For: 198.51.100.1")
		expectStatus(t, resp, body, 403)
	})
}

func TestIPRestrictionConfigErrors(t *testing.T) {
	for _, tc := range []struct{ cfg, want string }{
		{`{}`, "set allow, deny or both"},
		{`{ allow: ["10.0.0.1/8"] }`, "has host bits set: did you mean 10.0.0.0/8?"},
		{`{ allow: ["10.0.0.300"] }`, "allow[0]: not an IP or CIDR"},
		{`{ deny: ["fe80::1%eth0"] }`, "deny[0]: not an IP or CIDR"},
		{`{ deny: ["10.0.0.0/33"] }`, "not an IP or CIDR"},
		{`{ deny: ["10.0.0.0/8"], real_ip_header: Forwarded }`, "real_ip_header: must be X-Forwarded-For or X-Real-IP"},
		// Accepted, and then never read: the header is believed only from
		// a trusted proxy.
		{`{ deny: ["10.0.0.0/8"], real_ip_header: X-Real-IP }`, "real_ip_header: has no effect without trusted_proxies"},
	} {
		t.Run(tc.cfg, func(t *testing.T) {
			err := compileErr(t, "      - name: ip-restriction\n        config: "+tc.cfg+"\n")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// compileErr compiles a one-route config with the policy items and
// returns the error.
func compileErr(t *testing.T, items string) error {
	t.Helper()
	yml := "upstreams: [ { name: up, targets: [ { addr: \"10.255.0.1:80\" } ] } ]\nroutes:\n  - match: { paths: [\"/*\"] }\n    upstream: up\n    policies:\n" + items
	cfg, err := parseConfig(yml)
	if err != nil {
		return err
	}
	for _, spec := range cfg.Routes.At(0).Policies {
		if _, err := policies.Build(spec, nil); err != nil {
			return err
		}
	}
	return nil
}
