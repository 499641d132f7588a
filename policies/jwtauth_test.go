package policies_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const hsSecret = "0123456789abcdef0123456789abcdef-hs256-secret"

// jwtKeys are the test's key pairs, made once.
var jwtKeys struct {
	once sync.Once
	rsa  *rsa.PrivateKey
	rsa2 *rsa.PrivateKey
	ec   *ecdsa.PrivateKey
	ed   ed25519.PrivateKey
}

func testKeys(t testing.TB) {
	jwtKeys.once.Do(func() {
		var err error
		if jwtKeys.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			t.Fatal(err)
		}
		if jwtKeys.rsa2, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			t.Fatal(err)
		}
		if jwtKeys.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			t.Fatal(err)
		}
		if _, jwtKeys.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
			t.Fatal(err)
		}
	})
}

func pemFile(t testing.TB, dir, name string, pub any) (path string, pemText []byte) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	pemText = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	path = filepath.Join(dir, name)
	if err := os.WriteFile(path, pemText, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, pemText
}

// jwtConsumers writes the public keys and returns the consumers section
// and the RSA public key's PEM (for the algorithm confusion attack).
func jwtConsumers(t testing.TB) (string, []byte) {
	testKeys(t)
	dir := t.TempDir()
	rsaPath, rsaPEM := pemFile(t, dir, "rsa.pem", &jwtKeys.rsa.PublicKey)
	ecPath, _ := pemFile(t, dir, "ec.pem", &jwtKeys.ec.PublicKey)
	edPath, _ := pemFile(t, dir, "ed.pem", jwtKeys.ed.Public())
	return `consumers:
  - name: alice
    groups: [admin]
    metadata: { company_id: acme }
    credentials:
      jwt:
        - { key: alice-hs, secret: "` + hsSecret + `" }
        - { key: alice-rs, algorithm: RS256, public_key_file: "` + rsaPath + `" }
        - { key: alice-ps, algorithm: PS256, public_key_file: "` + rsaPath + `" }
  - name: bob
    credentials:
      jwt:
        - { key: bob-es, algorithm: ES256, public_key_file: "` + ecPath + `" }
        - { key: bob-ed, algorithm: EdDSA, public_key_file: "` + edPath + `" }
`, rsaPEM
}

func sign(t testing.TB, method jwt.SigningMethod, key any, claims jwt.MapClaims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func claims(iss string, extra ...any) jwt.MapClaims {
	now := time.Now().Unix()
	c := jwt.MapClaims{"iss": iss, "sub": "user-1", "iat": now, "exp": now + 600, "company_id": "acme-7"}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == nil {
			delete(c, extra[i].(string))
		} else {
			c[extra[i].(string)] = extra[i+1]
		}
	}
	return c
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestJWTAuth(t *testing.T) {
	consumers, rsaPEM := jwtConsumers(t)
	g := authGateway(t, `      - name: jwt-auth
        config: { query_arg: jwt, cookie: jwt, claims_to_headers: { company_id: X-Company-Id }, leeway: 30s }
`, consumers)
	now := time.Now().Unix()
	hs := []byte(hsSecret)
	good := sign(t, jwt.SigningMethodHS256, hs, claims("alice-hs"), nil)
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + b64(`{"iss":"alice-hs","sub":"admin","exp":`+itoa64(now+600)+`}`) + "." + parts[2]
	noneTok := b64(`{"alg":"none","typ":"JWT"}`) + "." + b64(`{"iss":"alice-hs","exp":`+itoa64(now+600)+`}`) + "."
	noneUpper := b64(`{"alg":"NONE","typ":"JWT"}`) + "." + b64(`{"iss":"alice-hs","exp":`+itoa64(now+600)+`}`) + "."
	// HS256 signed with the RSA public key's PEM as the secret, naming the
	// RS256 credential: the classic algorithm confusion.
	confused := sign(t, jwt.SigningMethodHS256, rsaPEM, claims("alice-rs"), nil)
	// An ES256 token whose signature is r = s = 0.
	esGood := sign(t, jwt.SigningMethodES256, jwtKeys.ec, claims("bob-es"), nil)
	esParts := strings.Split(esGood, ".")
	zeroSig := esParts[0] + "." + esParts[1] + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 64))
	ones := new(big.Int).SetInt64(1).FillBytes(make([]byte, 32))
	oneSig := esParts[0] + "." + esParts[1] + "." + base64.RawURLEncoding.EncodeToString(append(append([]byte{}, ones...), ones...))

	for _, tc := range []struct {
		name     string
		token    string
		status   int
		consumer string // for a 401: the reason the body must give
	}{
		{"HS256", good, 200, "alice"},
		{"RS256", sign(t, jwt.SigningMethodRS256, jwtKeys.rsa, claims("alice-rs"), nil), 200, "alice"},
		{"PS256", sign(t, jwt.SigningMethodPS256, jwtKeys.rsa, claims("alice-ps"), nil), 200, "alice"},
		{"ES256", esGood, 200, "bob"},
		{"EdDSA", sign(t, jwt.SigningMethodEdDSA, jwtKeys.ed, claims("bob-ed"), nil), 200, "bob"},
		{"expired within the leeway", sign(t, jwt.SigningMethodHS256, hs, claims("alice-hs", "exp", now-10), nil), 200, "alice"},
		{"alg none", noneTok, 401, "algorithm not allowed"},
		{"alg NONE", noneUpper, 401, "unverifiable"},
		{"algorithm confusion (HS256 with the RSA public key)", confused, 401, "algorithm not allowed"},
		{"RS256 credential, token says RS384", sign(t, jwt.SigningMethodRS384, jwtKeys.rsa, claims("alice-rs"), nil), 401, "algorithm not allowed"},
		{"PS credential, RS token", sign(t, jwt.SigningMethodRS256, jwtKeys.rsa, claims("alice-ps"), nil), 401, "algorithm not allowed"},
		{"signed by another RSA key", sign(t, jwt.SigningMethodRS256, jwtKeys.rsa2, claims("alice-rs"), nil), 401, "bad signature"},
		{"wrong HS secret", sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-0123"), claims("alice-hs"), nil), 401, "bad signature"},
		{"tampered claims", tampered, 401, "bad signature"},
		{"ECDSA zero signature", zeroSig, 401, "bad signature"},
		{"ECDSA r=s=1", oneSig, 401, "bad signature"},
		{"expired", sign(t, jwt.SigningMethodHS256, hs, claims("alice-hs", "exp", now-60), nil), 401, "expired"},
		{"not yet valid", sign(t, jwt.SigningMethodHS256, hs, claims("alice-hs", "nbf", now+120), nil), 401, "not valid yet"},
		{"issued in the future", sign(t, jwt.SigningMethodHS256, hs, claims("alice-hs", "iat", now+120), nil), 401, "issued in the future"},
		{"no exp", sign(t, jwt.SigningMethodHS256, hs, claims("alice-hs", "exp", nil), nil), 401, "exp is required"},
		{"unknown iss", sign(t, jwt.SigningMethodHS256, hs, claims("mallory"), nil), 401, "unknown key"},
		{"no iss", sign(t, jwt.SigningMethodHS256, hs, claims("alice-hs", "iss", nil), nil), 401, "unknown key"},
		{"iss of another consumer's key", sign(t, jwt.SigningMethodHS256, hs, claims("bob-es"), nil), 401, "algorithm not allowed"},
		{"malformed", "abc.def", 401, "malformed"},
		{"garbage", "not a token at all", 401, "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, up, body := get(t, g, "/", "Authorization: Bearer "+tc.token)
			expectStatus(t, resp, body, tc.status, tc.token, hsSecret)
			if tc.status == 401 {
				if h := resp.Header.Get("WWW-Authenticate"); h != `Bearer realm="sluice", error="invalid_token"` {
					t.Fatalf("WWW-Authenticate %q", h)
				}
				if !strings.Contains(body, `"invalid token: `+tc.consumer) {
					t.Fatalf("reason: %s, want %q", body, tc.consumer)
				}
				return
			}
			if up.Header.Get("X-Consumer-Name") != tc.consumer || up.Header.Get("X-Company-Id") != "acme-7" {
				t.Fatalf("upstream fields %v", up.Header)
			}
		})
	}
	t.Run("missing token", func(t *testing.T) {
		resp, _, body := get(t, g, "/")
		expectStatus(t, resp, body, 401)
		if h := resp.Header.Get("WWW-Authenticate"); h != `Bearer realm="sluice"` {
			t.Fatalf("WWW-Authenticate %q", h)
		}
	})
	t.Run("query and cookie", func(t *testing.T) {
		if resp, _, body := get(t, g, "/?jwt="+good); resp.StatusCode != 200 {
			t.Fatalf("query: %d %s", resp.StatusCode, body)
		}
		if resp, _, body := get(t, g, "/", "Cookie: a=b; jwt="+good); resp.StatusCode != 200 {
			t.Fatalf("cookie: %d %s", resp.StatusCode, body)
		}
	})
	t.Run("claim header sent by the client is replaced", func(t *testing.T) {
		_, up, _ := get(t, g, "/", "Authorization: Bearer "+good, "X-Company-Id: evil")
		if v := up.Header.Values("X-Company-Id"); len(v) != 1 || v[0] != "acme-7" {
			t.Fatalf("X-Company-Id %v", v)
		}
		tok := sign(t, jwt.SigningMethodHS256, hs, claims("alice-hs", "company_id", nil), nil)
		_, up, _ = get(t, g, "/", "Authorization: Bearer "+tok, "X-Company-Id: evil")
		if v := up.Header.Values("X-Company-Id"); len(v) != 0 {
			t.Fatalf("a client's X-Company-Id reached the upstream: %v", v)
		}
	})
	t.Run("cached token still expires", func(t *testing.T) {
		g := authGateway(t, "      - name: jwt-auth\n", consumers)
		tok := sign(t, jwt.SigningMethodHS256, hs, claims("alice-hs", "exp", time.Now().Add(1100*time.Millisecond).Unix()), nil)
		if resp, _, body := get(t, g, "/", "Authorization: Bearer "+tok); resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		time.Sleep(2100 * time.Millisecond)
		if resp, _, _ := get(t, g, "/", "Authorization: Bearer "+tok); resp.StatusCode != 401 {
			t.Fatalf("an expired token was served from the cache: %d", resp.StatusCode)
		}
	})
}

func itoa64(n int64) string { return big.NewInt(n).String() }

func TestJWTAuthChecks(t *testing.T) {
	consumers, _ := jwtConsumers(t)
	hs := []byte(hsSecret)
	now := time.Now().Unix()
	g := authGateway(t, `      - name: jwt-auth
        config: { issuers: [alice-hs], audiences: [api, admin], max_lifetime: 1h }
`, consumers)
	for _, tc := range []struct {
		name   string
		claims jwt.MapClaims
		status int
	}{
		{"audience string", claims("alice-hs", "aud", "api"), 200},
		{"audience list", claims("alice-hs", "aud", []string{"other", "admin"}), 200},
		{"wrong audience", claims("alice-hs", "aud", "web"), 401},
		{"no audience", claims("alice-hs"), 401},
		{"lifetime too long", claims("alice-hs", "aud", "api", "exp", now+7200), 401},
		{"lifetime too long without iat", claims("alice-hs", "aud", "api", "iat", nil, "exp", now+7200), 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, _, body := get(t, g, "/", "Authorization: Bearer "+sign(t, jwt.SigningMethodHS256, hs, tc.claims, nil))
			expectStatus(t, resp, body, tc.status)
		})
	}
	t.Run("issuer not accepted", func(t *testing.T) {
		g := authGateway(t, "      - name: jwt-auth\n        config: { issuers: [someone-else] }\n", consumers)
		resp, _, body := get(t, g, "/", "Authorization: Bearer "+sign(t, jwt.SigningMethodHS256, hs, claims("alice-hs"), nil))
		expectStatus(t, resp, body, 401)
	})
}

func TestJWTAuthKidAndHeaderInjection(t *testing.T) {
	consumers, _ := jwtConsumers(t)
	var fetched atomic.Int32
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fetched.Add(1) }))
	defer evil.Close()
	g := authGateway(t, "      - name: jwt-auth\n        config: { key_claim: kid }\n", consumers)
	hs := []byte(hsSecret)
	for _, tc := range []struct {
		name   string
		token  string
		status int
	}{
		{"kid names the credential", sign(t, jwt.SigningMethodHS256, hs, claims("x"), map[string]any{"kid": "alice-hs"}), 200},
		{"kid not found", sign(t, jwt.SigningMethodHS256, hs, claims("x"), map[string]any{"kid": "nobody"}), 401},
		{"no kid", sign(t, jwt.SigningMethodHS256, hs, claims("x"), nil), 401},
		{"kid path traversal", sign(t, jwt.SigningMethodHS256, hs, claims("x"), map[string]any{"kid": "../../../dev/null"}), 401},
		{"jku is never fetched", sign(t, jwt.SigningMethodRS256, jwtKeys.rsa2, claims("x"), map[string]any{"kid": "alice-rs", "jku": evil.URL}), 401},
		{"x5u is never fetched", sign(t, jwt.SigningMethodRS256, jwtKeys.rsa2, claims("x"), map[string]any{"kid": "alice-rs", "x5u": evil.URL}), 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, _, body := get(t, g, "/", "Authorization: Bearer "+tc.token)
			expectStatus(t, resp, body, tc.status, tc.token)
		})
	}
	if n := fetched.Load(); n != 0 {
		t.Fatalf("a URL named by a token was fetched %d times", n)
	}
}

func TestJWTAuthClaimVariable(t *testing.T) {
	consumers, _ := jwtConsumers(t)
	g := authGateway(t, `      - name: jwt-auth
        config: { hide_credentials: true }
      - name: response-rewrite
        config: { body: "{jwt_claim_company_id}/{jwt_claim_sub}/{consumer}" }
`, consumers)
	tok := sign(t, jwt.SigningMethodHS256, []byte(hsSecret), claims("alice-hs"), nil)
	for i := 0; i < 2; i++ { // verified, then from the cache
		resp, _, body := get(t, g, "/", "Authorization: Bearer "+tok)
		if resp.StatusCode != 200 || body != "acme-7/user-1/alice" {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
	}
}

func TestJWTAuthHideCredentials(t *testing.T) {
	consumers, _ := jwtConsumers(t)
	g := authGateway(t, "      - name: jwt-auth\n        config: { hide_credentials: true, cookie: jwt }\n", consumers)
	tok := sign(t, jwt.SigningMethodHS256, []byte(hsSecret), claims("alice-hs"), nil)
	_, up, _ := get(t, g, "/", "Authorization: Bearer "+tok)
	if up.Header.Get("Authorization") != "" {
		t.Fatalf("token not hidden: %v", up.Header)
	}
	_, up, _ = get(t, g, "/", "Cookie: a=1; jwt="+tok+"; b=2")
	if c := up.Header.Get("Cookie"); c != "a=1; b=2" {
		t.Fatalf("cookie not hidden: %q", c)
	}
}

// jwksServer serves a JWKS of the keys it holds, counting fetches.
type jwksServer struct {
	mu      sync.Mutex
	keys    map[string]*rsa.PublicKey
	fetches atomic.Int32
	srv     *httptest.Server
}

func newJWKSServer(t *testing.T) *jwksServer {
	s := &jwksServer{keys: map[string]*rsa.PublicKey{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		var doc struct {
			Keys []map[string]string `json:"keys"`
		}
		for kid, k := range s.keys {
			doc.Keys = append(doc.Keys, map[string]string{"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
				"n": base64.RawURLEncoding.EncodeToString(k.N.Bytes()),
				"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes())})
		}
		_ = json.NewEncoder(w).Encode(doc)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *jwksServer) set(keys map[string]*rsa.PublicKey) {
	s.mu.Lock()
	s.keys = keys
	s.mu.Unlock()
}

func TestJWTAuthJWKS(t *testing.T) {
	testKeys(t)
	js := newJWKSServer(t)
	js.set(map[string]*rsa.PublicKey{"k1": &jwtKeys.rsa.PublicKey})
	consumers := `consumers:
  - name: idp-user
    credentials:
      jwt: [ { key: "https://idp.test", algorithm: RS256, jwks_url: "` + js.srv.URL + `" } ]
`
	g := authGateway(t, "      - name: jwt-auth\n        config: { jwks_min_refresh: 200ms }\n", consumers)
	tok := func(kid string, key *rsa.PrivateKey) string {
		return sign(t, jwt.SigningMethodRS256, key, claims("https://idp.test"), map[string]any{"kid": kid})
	}
	resp, up, body := get(t, g, "/", "Authorization: Bearer "+tok("k1", jwtKeys.rsa))
	expectStatus(t, resp, body, 200)
	if up.Header.Get("X-Consumer-Name") != "idp-user" {
		t.Fatalf("consumer %v", up.Header)
	}
	// A key signed by another key under a known kid.
	resp, _, body = get(t, g, "/", "Authorization: Bearer "+tok("k1", jwtKeys.rsa2))
	expectStatus(t, resp, body, 401)
	// HS256 with a JWKS credential: refused before any key is looked at.
	resp, _, body = get(t, g, "/", "Authorization: Bearer "+sign(t, jwt.SigningMethodHS256, []byte(hsSecret), claims("https://idp.test"), map[string]any{"kid": "k1"}))
	expectStatus(t, resp, body, 401)

	// Rotation: the IdP publishes k2; a token with kid k2 makes the
	// policy fetch again (past the floor) and is accepted.
	js.set(map[string]*rsa.PublicKey{"k1": &jwtKeys.rsa.PublicKey, "k2": &jwtKeys.rsa2.PublicKey})
	time.Sleep(250 * time.Millisecond)
	before := js.fetches.Load()
	resp, _, body = get(t, g, "/", "Authorization: Bearer "+tok("k2", jwtKeys.rsa2))
	expectStatus(t, resp, body, 200)
	if js.fetches.Load() != before+1 {
		t.Fatalf("fetches %d -> %d, want one more", before, js.fetches.Load())
	}
	// Unknown kids within the floor do not fetch again.
	before = js.fetches.Load()
	for i := 0; i < 5; i++ {
		resp, _, body = get(t, g, "/", "Authorization: Bearer "+tok("made-up-"+itoa64(int64(i)), jwtKeys.rsa2))
		expectStatus(t, resp, body, 401)
	}
	if n := js.fetches.Load() - before; n > 0 {
		t.Fatalf("unknown kids within the refresh floor caused %d fetches", n)
	}
}

// TestJWTAuthNegativeDurationsNameTheirField: a negative max_lifetime is
// reported under max_lifetime (the factory's own guard said leeway; the
// duration decoder refuses it first, so that guard is not reached from a
// config file).
func TestJWTAuthNegativeDurationsNameTheirField(t *testing.T) {
	for field, want := range map[string]string{
		"max_lifetime": "config.max_lifetime: must not be negative",
		"leeway":       "config.leeway: must not be negative",
	} {
		err := compileErr(t, "      - name: jwt-auth\n        config: { "+field+": -1s }\n")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: -1s: err %v, want %q", field, err, want)
		}
	}
}
