package policies_test

import (
	"strings"
	"testing"
)

const keyAuthConsumers = `consumers:
  - name: alice
    id: u-1
    groups: [admin, paid]
    metadata: { company_id: acme, tier: gold }
    credentials:
      key_auth: [ { key: "alice-key-0123456789" } ]
  - name: bob
    groups: [free]
    credentials:
      key_auth: [ { key: "bob-key-0123456789ab" }, { key: "bob-second-key-0000" } ]
  - name: guest
`

func TestKeyAuth(t *testing.T) {
	g := authGateway(t, `      - name: key-auth
        config: { headers: [apikey, X-API-Key], query_args: [api_key], forward_metadata: [company_id] }
`, keyAuthConsumers)
	for _, tc := range []struct {
		name     string
		target   string
		fields   []string
		status   int
		consumer string
	}{
		{"header", "/", []string{"apikey: alice-key-0123456789"}, 200, "alice"},
		{"second header", "/", []string{"X-API-Key: bob-key-0123456789ab"}, 200, "bob"},
		{"second key of a consumer", "/", []string{"apikey: bob-second-key-0000"}, 200, "bob"},
		{"query arg", "/x?a=1&api_key=alice-key-0123456789", nil, 200, "alice"},
		{"missing key", "/", nil, 401, ""},
		{"empty key", "/", []string{"apikey: "}, 401, ""},
		{"wrong key", "/", []string{"apikey: alice-key-0123456788"}, 401, ""},
		{"prefix of a key", "/", []string{"apikey: alice-key-012345678"}, 401, ""},
		{"key with a suffix", "/", []string{"apikey: alice-key-01234567890"}, 401, ""},
		{"case changed", "/", []string{"apikey: ALICE-KEY-0123456789"}, 401, ""},
		{"wrong query arg name", "/x?apikey2=alice-key-0123456789", nil, 401, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, up, body := get(t, g, tc.target, tc.fields...)
			expectStatus(t, resp, body, tc.status, "alice-key", "bob-key")
			if tc.status == 401 {
				if got := resp.Header.Get("WWW-Authenticate"); got != `Key realm="sluice"` {
					t.Fatalf("WWW-Authenticate %q", got)
				}
				if !strings.Contains(resp.Header.Get("Content-Type"), "json") {
					t.Fatalf("not a JSON error: %v", resp.Header)
				}
				return
			}
			if got := up.Header.Get("X-Consumer-Name"); got != tc.consumer {
				t.Fatalf("X-Consumer-Name %q, want %q", got, tc.consumer)
			}
		})
	}
	t.Run("consumer fields upstream", func(t *testing.T) {
		_, up, _ := get(t, g, "/", "apikey: alice-key-0123456789")
		h := up.Header
		if h.Get("X-Consumer-ID") != "u-1" || h.Get("X-Consumer-Groups") != "admin,paid" || h.Get("X-Consumer-Company-Id") != "acme" {
			t.Fatalf("consumer fields: %v", h)
		}
		if h.Get("X-Consumer-Tier") != "" {
			t.Fatalf("metadata not listed in forward_metadata was sent: %v", h)
		}
		if h.Get("Apikey") == "" {
			t.Fatal("the key was removed without hide_credentials")
		}
	})
	t.Run("client-sent consumer fields are stripped", func(t *testing.T) {
		_, up, _ := get(t, g, "/", "apikey: bob-key-0123456789ab", "X-Consumer-Name: alice",
			"X-Consumer-Groups: admin", "x-consumer-company-id: acme", "X-Consumer-Custom: 1", "X-Anonymous-Consumer: false")
		h := up.Header
		if h.Get("X-Consumer-Name") != "bob" || len(h.Values("X-Consumer-Name")) != 1 || h.Get("X-Consumer-Groups") != "free" ||
			h.Get("X-Consumer-Company-Id") != "" || h.Get("X-Consumer-Custom") != "" || h.Get("X-Anonymous-Consumer") != "" {
			t.Fatalf("spoofed consumer fields reached the upstream: %v", h)
		}
	})
}

func TestKeyAuthHideCredentialsAndAnonymous(t *testing.T) {
	g := authGateway(t, `      - name: key-auth
        config: { headers: [apikey], query_args: [api_key], hide_credentials: true, anonymous: guest }
`, keyAuthConsumers)
	_, up, _ := get(t, g, "/", "apikey: alice-key-0123456789")
	if up.Header.Get("Apikey") != "" || up.Header.Get("X-Consumer-Name") != "alice" {
		t.Fatalf("header key not hidden: %v", up.Header)
	}
	_, up, _ = get(t, g, "/p?a=1&api_key=alice-key-0123456789&b=2")
	if up.Target != "/p?a=1&b=2" {
		t.Fatalf("query key not hidden: %q", up.Target)
	}
	_, up, _ = get(t, g, "/p?api_key=alice-key-0123456789")
	if up.Target != "/p" {
		t.Fatalf("query key not hidden: %q", up.Target)
	}
	_, up, _ = get(t, g, "/", "X-Consumer-Name: alice")
	if up.Header.Get("X-Consumer-Name") != "guest" || up.Header.Get("X-Anonymous-Consumer") != "true" {
		t.Fatalf("no anonymous consumer: %v", up.Header)
	}
	resp, _, body := get(t, g, "/", "apikey: wrong-key-000000000000")
	expectStatus(t, resp, body, 401, "wrong-key")
}

// TestAuthPoliciesCombined: key or JWT with anonymous on both is "any of
// them"; a policy without anonymous still requires its own credential
// after another's anonymous consumer.
func TestAuthPoliciesCombined(t *testing.T) {
	consumers := keyAuthConsumers + `    credentials:
      jwt: [ { key: guest-hs, secret: "` + hsSecret + `" } ]
`
	g := authGateway(t, `      - name: jwt-auth
        config: { anonymous: guest }
      - name: key-auth
        config: { anonymous: guest }
`, consumers)
	_, up, _ := get(t, g, "/", "apikey: alice-key-0123456789")
	if up.Header.Get("X-Consumer-Name") != "alice" || up.Header.Get("X-Anonymous-Consumer") != "" {
		t.Fatalf("key after an anonymous jwt-auth: %v", up.Header)
	}
	_, up, _ = get(t, g, "/")
	if up.Header.Get("X-Consumer-Name") != "guest" || up.Header.Get("X-Anonymous-Consumer") != "true" {
		t.Fatalf("no credential: %v", up.Header)
	}
	g = authGateway(t, `      - name: jwt-auth
        config: { anonymous: guest }
      - name: key-auth
`, consumers)
	resp, _, body := get(t, g, "/")
	expectStatus(t, resp, body, 401)
	if h := resp.Header.Get("WWW-Authenticate"); h != `Key realm="sluice"` {
		t.Fatalf("WWW-Authenticate %q", h)
	}
}
