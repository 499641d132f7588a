package policies_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/engine/enginetest"
	"github.com/sluice-gw/sluice/policies"
	"github.com/sluice-gw/sluice/redis/redistest"
)

const hmacSecret = "hmac-secret-0123456789abcdef0123456789"

const hmacConsumers = `consumers:
  - name: alice
    credentials:
      hmac: [ { key_id: alice-key, secret: "` + hmacSecret + `" } ]
`

// signedRequest is a request and the way the test signs it.
type signedRequest struct {
	method, target string
	fields         [][2]string // sent, in order
	signed         string      // the headers parameter
	alg            string      // hmac-sha256 (default) or hmac-sha512
	secret         string      // default hmacSecret
	keyID          string      // default alice-key
	signOverride   [][2]string // values signed instead of those sent (a forged list)
	body           string
}

func (r signedRequest) raw() string {
	alg, secret, keyID := r.alg, r.secret, r.keyID
	if alg == "" {
		alg = "hmac-sha256"
	}
	if secret == "" {
		secret = hmacSecret
	}
	if keyID == "" {
		keyID = "alice-key"
	}
	values := map[string]string{"host": "api.test"}
	for _, f := range r.fields {
		values[strings.ToLower(f[0])] = f[1]
	}
	for _, f := range r.signOverride {
		values[strings.ToLower(f[0])] = f[1]
	}
	var lines []string
	for _, h := range strings.Fields(r.signed) {
		if h == "@request-target" || h == "(request-target)" {
			lines = append(lines, h+": "+strings.ToLower(r.method)+" "+r.target)
			continue
		}
		lines = append(lines, h+": "+values[h])
	}
	newHash := func() hash.Hash { return sha256.New() }
	if alg == "hmac-sha512" {
		newHash = sha512.New
	}
	mac := hmac.New(newHash, []byte(secret))
	mac.Write([]byte(strings.Join(lines, "\n")))
	sig := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	raw := r.method + " " + r.target + " HTTP/1.1\r\nHost: api.test\r\n"
	for _, f := range r.fields {
		raw += f[0] + ": " + f[1] + "\r\n"
	}
	raw += `Authorization: Signature keyId="` + keyID + `",algorithm="` + alg + `",headers="` + r.signed + `",signature="` + sig + "\"\r\n"
	if r.body != "" {
		raw += "Content-Length: " + strconv.Itoa(len(r.body)) + "\r\n"
	}
	return raw + "\r\n" + r.body
}

func httpDate(d time.Duration) string { return time.Now().Add(d).UTC().Format(http.TimeFormat) }

func digestOf(body string) string {
	sum := sha256.Sum256([]byte(body))
	return "SHA-256=" + base64.StdEncoding.EncodeToString(sum[:])
}

// TestHMACAuth runs the checks and attacks with each replay store.
func TestHMACAuth(t *testing.T) {
	t.Run("local", func(t *testing.T) {
		testHMACAuth(t, authGateway(t, "      - name: hmac-auth\n        config: { clock_skew: 60s }\n", hmacConsumers))
	})
	t.Run("redis", func(t *testing.T) {
		g := hmacRedisGateway(t, redistest.Start(t).Addr(), "")
		waitReplayStore(t, g)
		testHMACAuth(t, g)
	})
}

func testHMACAuth(t *testing.T, g *enginetest.Gateway) {
	now := func() [2]string { return [2]string{"Date", httpDate(0)} }
	n := 0
	unique := func() [2]string { n++; return [2]string{"X-Nonce", strconv.Itoa(n)} } // distinct signatures
	for _, tc := range []struct {
		name   string
		req    signedRequest
		status int
		reason string
	}{
		{"GET", signedRequest{method: "GET", target: "/a?b=1", fields: [][2]string{now(), unique()}, signed: "@request-target host date x-nonce"}, 200, ""},
		{"hmac-sha512", signedRequest{method: "GET", target: "/a", alg: "hmac-sha512", fields: [][2]string{now(), unique()}, signed: "(request-target) date x-nonce"}, 200, ""},
		{"x-date", signedRequest{method: "GET", target: "/a", fields: [][2]string{{"X-Date", httpDate(0)}, unique()}, signed: "@request-target x-date x-nonce"}, 200, ""},
		{"wrong secret", signedRequest{method: "GET", target: "/a", secret: "another-secret-0123456789abcdef01234", fields: [][2]string{now(), unique()}, signed: "@request-target date x-nonce"}, 401, "invalid signature"},
		{"unknown key id", signedRequest{method: "GET", target: "/a", keyID: "mallory", fields: [][2]string{now(), unique()}, signed: "@request-target date x-nonce"}, 401, "invalid signature"},
		{"date not signed", signedRequest{method: "GET", target: "/a", fields: [][2]string{now(), unique()}, signed: "@request-target x-nonce"}, 401, "date must be signed"},
		{"target not signed", signedRequest{method: "GET", target: "/a", fields: [][2]string{now(), unique()}, signed: "date x-nonce"}, 401, "must cover @request-target"},
		{"date too old", signedRequest{method: "GET", target: "/a", fields: [][2]string{{"Date", httpDate(-2 * time.Minute)}, unique()}, signed: "@request-target date x-nonce"}, 401, "clock skew"},
		{"date in the future", signedRequest{method: "GET", target: "/a", fields: [][2]string{{"Date", httpDate(2 * time.Minute)}, unique()}, signed: "@request-target date x-nonce"}, 401, "clock skew"},
		{"bad date", signedRequest{method: "GET", target: "/a", fields: [][2]string{{"Date", "yesterday"}, unique()}, signed: "@request-target date x-nonce"}, 401, "invalid date"},
		{"signed over other header values than sent", signedRequest{method: "GET", target: "/a", fields: [][2]string{now(), unique(), {"X-Amount", "1000"}},
			signOverride: [][2]string{{"X-Amount", "1"}}, signed: "@request-target date x-nonce x-amount"}, 401, "invalid signature"},
		{"signed header missing", signedRequest{method: "GET", target: "/a", fields: [][2]string{now(), unique()}, signed: "@request-target date x-nonce x-absent"}, 401, "signed header missing"},
		{"digest", signedRequest{method: "POST", target: "/a", body: `{"amount":1}`, fields: [][2]string{now(), unique(), {"Digest", digestOf(`{"amount":1}`)}}, signed: "@request-target date x-nonce digest"}, 200, ""},
		{"digest of another body", signedRequest{method: "POST", target: "/a", body: `{"amount":1000}`, fields: [][2]string{now(), unique(), {"Digest", digestOf(`{"amount":1}`)}}, signed: "@request-target date x-nonce digest"}, 401, "digest does not match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := g.Do(tc.req.raw())
			body := readAll(resp)
			expectStatus(t, resp, body, tc.status, hmacSecret)
			if tc.status == 401 {
				if h := resp.Header.Get("WWW-Authenticate"); h != `Signature realm="sluice"` {
					t.Fatalf("WWW-Authenticate %q", h)
				}
				if !strings.Contains(body, tc.reason) {
					t.Fatalf("reason %s, want %q", body, tc.reason)
				}
			}
		})
	}
	t.Run("tampered target", func(t *testing.T) {
		raw := signedRequest{method: "GET", target: "/a", fields: [][2]string{now(), unique()}, signed: "@request-target date x-nonce"}.raw()
		raw = strings.Replace(raw, "GET /a ", "GET /admin ", 1)
		resp := g.Do(raw)
		expectStatus(t, resp, readAll(resp), 401)
	})
	t.Run("replay", func(t *testing.T) {
		raw := signedRequest{method: "GET", target: "/a", fields: [][2]string{now(), unique()}, signed: "@request-target date x-nonce"}.raw()
		if resp := g.Do(raw); resp.StatusCode != 200 {
			t.Fatalf("first: %d", resp.StatusCode)
		}
		resp := g.Do(raw)
		body := readAll(resp)
		expectStatus(t, resp, body, 401)
		if !strings.Contains(body, "replayed signature") {
			t.Fatalf("reason %s", body)
		}
	})
	t.Run("missing", func(t *testing.T) {
		resp, _, body := get(t, g, "/")
		expectStatus(t, resp, body, 401)
		if h := resp.Header.Get("WWW-Authenticate"); h != `Signature realm="sluice"` {
			t.Fatalf("WWW-Authenticate %q", h)
		}
	})
	t.Run("malformed", func(t *testing.T) {
		for _, v := range []string{`Signature keyId="alice-key"`, `Signature keyId="alice-key,signature=abc`, `Signature =x`} {
			resp, _, body := get(t, g, "/", "Authorization: "+v, "Date: "+httpDate(0))
			expectStatus(t, resp, body, 401)
		}
	})
}

func TestHMACAuthValidateBody(t *testing.T) {
	g := authGateway(t, "      - name: hmac-auth\n        config: { validate_body: true, algorithms: [hmac-sha512] }\n", hmacConsumers)
	req := signedRequest{method: "POST", target: "/a", alg: "hmac-sha512", body: "x=1", fields: [][2]string{{"Date", httpDate(0)}}, signed: "@request-target date"}
	resp := g.Do(req.raw())
	body := readAll(resp)
	expectStatus(t, resp, body, 401)
	if !strings.Contains(body, "digest must be signed") {
		t.Fatalf("reason %s", body)
	}
	req.alg = "hmac-sha256"
	req.fields = append(req.fields, [2]string{"Digest", digestOf("x=1")})
	req.signed = "@request-target date digest"
	resp = g.Do(req.raw())
	body = readAll(resp)
	expectStatus(t, resp, body, 401)
	if !strings.Contains(body, "algorithm not accepted") {
		t.Fatalf("reason %s", body)
	}
	req.alg = "hmac-sha512"
	resp = g.Do(req.raw())
	expectStatus(t, resp, readAll(resp), 200)
}

func readAll(resp *http.Response) string {
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

// hmacRedisGateway is a gateway in-process whose hmac-auth remembers
// signatures in the redis-server at redisAddr too (replay_store: redis),
// with more config fields in extra (", fault_tolerant: true").
func hmacRedisGateway(t *testing.T, redisAddr, extra string) *enginetest.Gateway {
	t.Helper()
	return hmacRedisGatewayTimeout(t, redisAddr, "300ms", extra)
}

// hmacRedisGatewayTimeout is hmacRedisGateway with the redis section's
// read_timeout.
func hmacRedisGatewayTimeout(t *testing.T, redisAddr, readTimeout, extra string) *enginetest.Gateway {
	t.Helper()
	yml := `upstreams: [ { name: up, targets: [ { addr: "10.255.0.1:80" } ] } ]
shared_dicts: { auth: 1m }
redis: { addresses: ["` + redisAddr + `"], read_timeout: ` + readTimeout + ` }
routes:
  - match: { paths: ["/*"] }
    upstream: up
    policies:
      - name: hmac-auth
        config: { clock_skew: 60s, replay_store: redis` + extra + ` }
` + hmacConsumers
	return enginetest.New(t, yml, policies.Build, authEchoUpstream())
}

// hmacNonce makes each signed request of a test distinct.
var hmacNonce atomic.Int64

func freshSigned() string {
	return signedRequest{method: "GET", target: "/a", signed: "@request-target date x-nonce",
		fields: [][2]string{{"Date", httpDate(0)}, {"X-Nonce", strconv.FormatInt(hmacNonce.Add(1), 10)}}}.raw()
}

// waitReplayStore waits until the gateway's Redis client is connected: a
// fresh signature is accepted rather than answered 503.
func waitReplayStore(t *testing.T, g *enginetest.Gateway) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp := g.Do(freshSigned())
		if resp.StatusCode == 200 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no signed request accepted within 15s: %d %s", resp.StatusCode, readAll(resp))
		}
	}
}

func expectReplayed(t *testing.T, resp *http.Response, who string) {
	t.Helper()
	body := readAll(resp)
	expectStatus(t, resp, body, 401, hmacSecret)
	if !strings.Contains(body, "replayed signature") || resp.Header.Get("WWW-Authenticate") != `Signature realm="sluice"` {
		t.Fatalf("%s: %v %s, want the replay refusal", who, resp.Header, body)
	}
}

// Two gateways sharing one Redis: a signed request accepted by one is a
// replay for the other, whichever comes first, and for itself without
// asking Redis again.
func TestHMACAuthReplayAcrossGateways(t *testing.T) {
	rs := redistest.Start(t)
	a, b := hmacRedisGateway(t, rs.Addr(), ""), hmacRedisGateway(t, rs.Addr(), "")
	waitReplayStore(t, a)
	waitReplayStore(t, b)
	for _, order := range [][2]*enginetest.Gateway{{a, b}, {b, a}} {
		raw := freshSigned()
		resp := order[0].Do(raw)
		expectStatus(t, resp, readAll(resp), 200)
		expectReplayed(t, order[1].Do(raw), "the other gateway")
		sets := redisCalls(t, rs, "set")
		expectReplayed(t, order[0].Do(raw), "the same gateway")
		if n := redisCalls(t, rs, "set"); n != sets {
			t.Fatalf("a replay to the gateway that saw the signature asked Redis (%d SETs, then %d)", sets, n)
		}
	}
	// One key per signature, named by a hash: neither the signature nor
	// the secret is in Redis; it lives twice the clock skew.
	keys, err := rs.Do("KEYS", "sluice:hmac:*")
	if err != nil {
		t.Fatal(err)
	}
	list := strings.Fields(keys)
	if len(list) < 4 { // two waits and two requests, at least
		t.Fatalf("keys %q", keys)
	}
	for _, k := range list {
		if len(k) != len("sluice:hmac:")+43 || strings.Contains(k, "alice") {
			t.Fatalf("key %q: want sluice:hmac: and a base64url SHA-256", k)
		}
	}
	pttl, _ := rs.Do("PTTL", list[0])
	if ms, _ := strconv.Atoi(pttl); ms <= 60_000 || ms > 120_000 {
		t.Fatalf("PTTL %s ms, want within twice the 60s clock skew", pttl)
	}
	// The attacks are refused before the replay check: a forged signature
	// is not recorded, so it cannot burn the real one on another gateway.
	raw := freshSigned()
	forged := strings.Replace(raw, `signature="`, `signature="A`, 1)
	resp := a.Do(forged)
	expectStatus(t, resp, readAll(resp), 401)
	resp = b.Do(raw)
	expectStatus(t, resp, readAll(resp), 200)
}

// Redis down (killed) or slow (paused past read_timeout): the replay
// check fails closed by default (503 saying why, and the same request may
// be sent again), open with fault_tolerant: true (accepted, counted); the
// gateway's own replays are refused either way.
func TestHMACAuthReplayRedisDown(t *testing.T) {
	for _, tc := range []struct{ mode, reason string }{
		{"killed", "replay check unavailable: redis unreachable"},
		{"paused", "replay check unavailable: redis timed out"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			rs := redistest.Start(t)
			closed := hmacRedisGatewayTimeout(t, rs.Addr(), "100ms", "")
			open := hmacRedisGatewayTimeout(t, rs.Addr(), "100ms", ", fault_tolerant: true")
			waitReplayStore(t, closed)
			waitReplayStore(t, open)
			const family, id = "sluice_hmac_replay_store_failures_total", "route:routes[0]/hmac-auth"
			before := policies.HMACReplayRedisFailures()[id]
			refused, accepted := closed.Server().PolicyCounterValue(family, id, "refused"), open.Server().PolicyCounterValue(family, id, "accepted")
			if tc.mode == "killed" {
				rs.Kill()
			} else {
				// Three calls of read_timeout (100ms) fit in the pause with
				// room for a loaded machine; the cleanup waits for its end.
				rs.Pause(time.Second)
			}
			raw := freshSigned()
			for i := range 2 {
				resp := closed.Do(raw)
				body := readAll(resp)
				if resp.StatusCode != 503 || !strings.Contains(body, tc.reason) {
					t.Fatalf("fail closed, attempt %d: %d %s, want 503 %q", i, resp.StatusCode, body, tc.reason)
				}
			}
			resp := open.Do(raw)
			expectStatus(t, resp, readAll(resp), 200)
			expectReplayed(t, open.Do(raw), "fault tolerant, Redis failing, the same gateway")
			if after := policies.HMACReplayRedisFailures()[id]; after < before+3 {
				t.Fatalf("failures counted %d then %d; want 3 more", before, after)
			}
			r := closed.Server().PolicyCounterValue(family, id, "refused") - refused
			a := open.Server().PolicyCounterValue(family, id, "accepted") - accepted
			if r != 2 || a != 1 {
				t.Fatalf("%s grew by: refused %d (want 2 on the fail-closed gateway), accepted %d (want 1 on the other)", family, r, a)
			}
		})
	}
}

func TestHMACAuthReplayStoreConfigErrors(t *testing.T) {
	for _, tc := range []struct{ cfg, want string }{
		{`{ replay_store: redis }`, "replay_store: redis needs the top-level redis section"},
		{`{ replay_store: cluster }`, "replay_store"},
		{`{ fault_tolerant: true }`, "fault_tolerant: is for replay_store: redis"},
	} {
		t.Run(tc.cfg, func(t *testing.T) {
			err := cacheCompileErr(`upstreams: [ { name: up, targets: [ { addr: "10.255.0.1:80" } ] } ]
shared_dicts: { auth: 1m }
routes:
  - match: { paths: ["/*"] }
    upstream: up
    policies:
      - { name: hmac-auth, config: ` + tc.cfg + ` }
`)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}

// TestHMACAuthEnforceHeadersMustBeNames pins the audit's finding:
// enforce_headers ["a b", ""] validated, and then no signature could cover
// them, so every request was a 401.
func TestHMACAuthEnforceHeadersMustBeNames(t *testing.T) {
	compile := func(cfg string) error {
		return cacheCompileErr(`upstreams: [ { name: up, targets: [ { addr: "10.255.0.1:80" } ] } ]
shared_dicts: { auth: 1m }
routes:
  - match: { paths: ["/*"] }
    upstream: up
    policies:
      - { name: hmac-auth, config: ` + cfg + ` }
`)
	}
	for _, tc := range []struct{ cfg, want string }{
		{`{ enforce_headers: ["a b", ""] }`, `config.enforce_headers[0]: must be a field name or @request-target (no signature could list "a b")`},
		{`{ enforce_headers: [date, ""] }`, `config.enforce_headers[1]: must be a field name or @request-target`},
		{`{ enforce_headers: ["(created)"] }`, `config.enforce_headers[0]: must be a field name`},
		{`{ enforce_headers: ["x-a\r\nx-b"] }`, `config.enforce_headers[0]: must be a field name`},
	} {
		t.Run(tc.cfg, func(t *testing.T) {
			if err := compile(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
	for _, ok := range []string{
		`{ enforce_headers: ["@request-target", "(request-target)", Date, X-Date, digest] }`,
		`{ enforce_headers: [] }`,
	} {
		if err := compile(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}
