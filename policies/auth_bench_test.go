package policies_test

import (
	"encoding/base64"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"
)

// The auth policies on a real gateway and a keep-alive connection (the
// socket harness of fixed_test.go), beside the same route without
// policies: the difference is what a policy costs per request on a hit.

const benchAPIKey = "bench-key-0123456789abcdef"

// authBench is a route's policies, its consumers and the request.
type authBench struct{ policies, req string }

func authBenches(t testing.TB) map[string]authBench {
	consumers, _ := jwtConsumers(t)
	hash, err := bcrypt.GenerateFromPassword([]byte("bench-password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	consumers += `  - name: bench
    groups: [paid]
    metadata: { company_id: acme }
    credentials:
      key_auth: [ { key: "` + benchAPIKey + `" } ]
      basic_auth: [ { username: bench, password_hash: "` + string(hash) + `" } ]
`
	hs := sign(t, jwt.SigningMethodHS256, []byte(hsSecret), claims("alice-hs", "exp", int64(4e9)), nil)
	rs := sign(t, jwt.SigningMethodRS256, jwtKeys.rsa, claims("alice-rs", "exp", int64(4e9)), nil)
	head := "GET /api/v1/items?id=42 HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: bench/1.0\r\nAccept: application/json\r\n"
	return map[string]authBench{
		"none":     {"", head + "\r\n"},
		"key-auth": {"      - name: key-auth\n        config: { forward_metadata: [company_id] }\n" + consumers, head + "apikey: " + benchAPIKey + "\r\n\r\n"},
		"key-auth+acl": {"      - name: key-auth\n      - name: acl\n        config: { allow: [paid] }\n" + consumers,
			head + "apikey: " + benchAPIKey + "\r\n\r\n"},
		"jwt-auth/HS256": {"      - name: jwt-auth\n" + consumers, head + "Authorization: Bearer " + hs + "\r\n\r\n"},
		"jwt-auth/RS256": {"      - name: jwt-auth\n" + consumers, head + "Authorization: Bearer " + rs + "\r\n\r\n"},
		"basic-auth": {"      - name: basic-auth\n" + consumers,
			head + "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("bench:bench-password")) + "\r\n\r\n"},
		"ip-restriction": {"      - name: ip-restriction\n        config: { allow: [\"10.0.0.0/8\", \"127.0.0.0/8\", \"::1\"], deny: [\"192.0.2.0/24\"] }\n", head + "\r\n"},
	}
}

func BenchmarkAuthOverhead(b *testing.B) {
	benches := authBenches(b)
	for _, name := range []string{"none", "key-auth", "key-auth+acl", "jwt-auth/HS256", "jwt-auth/RS256", "basic-auth", "ip-restriction"} {
		b.Run("policies="+name, func(b *testing.B) {
			bc := benches[name]
			g := policyGateway(b, bc.policies)
			sc := newSteadyClient(b, g.addr, bc.req)
			sc.run(b, 1000)
			b.ReportAllocs()
			b.ResetTimer()
			sc.run(b, b.N)
		})
	}
}
