package config

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The secrets of the consumer tests; no error text may contain them.
const (
	testAPIKey   = "key-0123456789abcdef"
	testHSSecret = "hs-secret-0123456789abcdef0123456789"
	testHash     = "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"
)

func pemOf(t *testing.T, pub any) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func writeFile(t *testing.T, dir, name, content string) string {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConsumersAccepted(t *testing.T) {
	dir := t.TempDir()
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	rsaFile := writeFile(t, dir, "rsa.pem", pemOf(t, &rsaKey.PublicKey))
	ecFile := writeFile(t, dir, "ec.pem", pemOf(t, &ecKey.PublicKey))
	edFile := writeFile(t, dir, "ed.pem", pemOf(t, edPub))
	keyFile := writeFile(t, dir, "key", testAPIKey+"-file\n")
	secretFile := writeFile(t, dir, "secret", testHSSecret+"\r\n")
	cfg, err := Parse([]byte(`consumers:
  - name: alice
    id: u-1
    groups: [admin, paid]
    metadata: { company_id: acme }
    credentials:
      key_auth: [ { key: "`+testAPIKey+`" }, { key_file: "`+keyFile+`" } ]
      basic_auth: [ { username: alice, password_hash: "`+testHash+`" } ]
      jwt:
        - { key: a-hs, secret: "`+testHSSecret+`" }
        - { key: a-hs-file, algorithm: HS256, secret_file: "`+secretFile+`" }
        - { key: a-hs-b64, algorithm: HS256, base64_secret: true, secret: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY" }
        - { key: a-rs, algorithm: RS512, public_key_file: "`+rsaFile+`" }
        - { key: a-es, algorithm: ES384, public_key_file: "`+ecFile+`" }
        - { key: a-ed, algorithm: EdDSA, public_key_file: "`+edFile+`" }
        - { key: a-jwks, algorithm: RS256, jwks_url: "https://idp.example.com/.well-known/jwks.json" }
      hmac: [ { key_id: alice-hmac, secret: "`+testHSSecret+`" } ]
  - name: guest
routes:
  - match: { paths: ["/*"] }
    upstream: up
    policies: [ { name: key-auth, config: { anonymous: guest } } ]
upstreams: [ { name: up, targets: [ { addr: "127.0.0.1:1" } ] } ]
`), "c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := &cfg.Consumers[0]
	if c.Credentials.KeyAuth[1].KeyBytes() != testAPIKey+"-file" {
		t.Errorf("key_file: %q", c.Credentials.KeyAuth[1].KeyBytes())
	}
	j := c.Credentials.JWT
	if string(j[1].KeyMaterial().([]byte)) != testHSSecret || len(j[2].KeyMaterial().([]byte)) != 32 {
		t.Errorf("secrets: %q %q", j[1].KeyMaterial(), j[2].KeyMaterial())
	}
	if _, ok := j[3].KeyMaterial().(*rsa.PublicKey); !ok {
		t.Errorf("rsa key: %T", j[3].KeyMaterial())
	}
	if j[6].KeyMaterial() != nil {
		t.Error("a JWKS credential has key material")
	}
	if string(c.Credentials.HMAC[0].SecretBytes()) != testHSSecret {
		t.Error("hmac secret")
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate is not idempotent: %v", err)
	}
	if s := c.Credentials.KeyAuth[0].String() + c.Credentials.JWT[0].String() + c.Credentials.HMAC[0].String(); strings.Contains(s, testAPIKey) || strings.Contains(s, testHSSecret) {
		t.Errorf("String leaks a secret: %s", s)
	}
}

func TestConsumersRefused(t *testing.T) {
	dir := t.TempDir()
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	smallFile := writeFile(t, dir, "small.pem", pemOf(t, &small.PublicKey))
	rsaFile := writeFile(t, dir, "rsa.pem", pemOf(t, &rsaKey.PublicKey))
	p256File := writeFile(t, dir, "p256.pem", pemOf(t, &p256.PublicKey))
	privDER, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	privFile := writeFile(t, dir, "priv.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})))
	for _, tc := range []struct{ name, yaml, want string }{
		{"duplicate key across consumers", `consumers:
  - { name: a, credentials: { key_auth: [ { key: "` + testAPIKey + `" } ] } }
  - { name: b, credentials: { key_auth: [ { key: "` + testAPIKey + `" } ] } }
`, "c.yaml:3: consumers[1].credentials.key_auth[0].key: duplicate key_auth credential: consumers[0].credentials.key_auth[0].key already has it"},
		{"duplicate key within a consumer", `consumers:
  - { name: a, credentials: { key_auth: [ { key: "` + testAPIKey + `" }, { key: "` + testAPIKey + `" } ] } }
`, "consumers[0].credentials.key_auth[1].key: duplicate key_auth credential: consumers[0].credentials.key_auth[0].key"},
		{"duplicate username", `consumers:
  - { name: a, credentials: { basic_auth: [ { username: u, password_hash: "` + testHash + `" } ] } }
  - { name: b, credentials: { basic_auth: [ { username: u, password_hash: "` + testHash + `" } ] } }
`, "consumers[1].credentials.basic_auth[0].username: duplicate basic_auth credential: consumers[0].credentials.basic_auth[0].username"},
		{"duplicate jwt key", `consumers:
  - { name: a, credentials: { jwt: [ { key: k, secret: "` + testHSSecret + `" } ] } }
  - { name: b, credentials: { jwt: [ { key: k, secret: "` + testHSSecret + `x" } ] } }
`, "consumers[1].credentials.jwt[0].key: duplicate jwt credential: consumers[0].credentials.jwt[0].key"},
		{"duplicate hmac key id", `consumers:
  - { name: a, credentials: { hmac: [ { key_id: k, secret: "` + testHSSecret + `" } ] } }
  - { name: b, credentials: { hmac: [ { key_id: k, secret: "` + testHSSecret + `" } ] } }
`, "consumers[1].credentials.hmac[0].key_id: duplicate hmac credential: consumers[0].credentials.hmac[0].key_id"},
		{"duplicate name", "consumers: [ { name: a }, { name: a } ]\n", `consumers[1].name: duplicate consumer name "a" (first at consumers[0])`},
		{"duplicate id", "consumers: [ { name: a, id: x }, { name: b, id: x } ]\n", `consumers[1].id: duplicate consumer id "x"`},
		{"no name", "consumers: [ { id: x } ]\n", "consumers[0].name: is required"},
		{"bad group", "consumers: [ { name: a, groups: [\"a b\"] } ]\n", "consumers[0].groups[0]: must match"},
		{"bad metadata key", "consumers: [ { name: a, metadata: { \"a b\": x } } ]\n", "metadata[\"a b\"]: keys must match"},
		{"short key", "consumers: [ { name: a, credentials: { key_auth: [ { key: short } ] } } ]\n", "key_auth[0].key: must be 16 to 256 bytes long, got 5"},
		{"key with a space", "consumers: [ { name: a, credentials: { key_auth: [ { key: \"0123456789 abcdefgh\" } ] } } ]\n", "must be visible ASCII"},
		{"key and key_file", "consumers: [ { name: a, credentials: { key_auth: [ { key: \"" + testAPIKey + "\", key_file: /x } ] } } ]\n", "key_file: is exclusive with key"},
		{"missing key file", "consumers: [ { name: a, credentials: { key_auth: [ { key_file: /nonexistent/k } ] } } ]\n", "cannot read the key file"},
		{"plain password", "consumers: [ { name: a, credentials: { basic_auth: [ { username: u, password_hash: \"" + testHSSecret + "\" } ] } } ]\n", "is not a bcrypt hash"},
		{"username with a colon", "consumers: [ { name: a, credentials: { basic_auth: [ { username: \"a:b\", password_hash: \"" + testHash + "\" } ] } } ]\n", "without ':'"},
		{"alg none", "consumers: [ { name: a, credentials: { jwt: [ { key: k, algorithm: none, secret: \"" + testHSSecret + "\" } ] } } ]\n", "none is never accepted"},
		{"short HS256 secret", "consumers: [ { name: a, credentials: { jwt: [ { key: k, secret: short-secret } ] } } ]\n", "HS256 needs a secret of at least 32 bytes"},
		{"short HS512 secret", "consumers: [ { name: a, credentials: { jwt: [ { key: k, algorithm: HS512, secret: \"" + testHSSecret + "\" } ] } } ]\n", "HS512 needs a secret of at least 64 bytes"},
		{"HS with a public key (confusion)", "consumers: [ { name: a, credentials: { jwt: [ { key: k, algorithm: HS256, public_key_file: \"" + rsaFile + "\" } ] } } ]\n", "an HMAC algorithm never uses a public key"},
		{"RS with a secret", "consumers: [ { name: a, credentials: { jwt: [ { key: k, algorithm: RS256, secret: \"" + testHSSecret + "\" } ] } } ]\n", "RS256 needs public_key"},
		{"two key sources", "consumers: [ { name: a, credentials: { jwt: [ { key: k, algorithm: RS256, public_key_file: \"" + rsaFile + "\", jwks_url: \"https://x\" } ] } } ]\n", "needs exactly one of"},
		{"small RSA key", "consumers: [ { name: a, credentials: { jwt: [ { key: k, algorithm: RS256, public_key_file: \"" + smallFile + "\" } ] } } ]\n", "RSA key of 1024 bits"},
		{"RSA key for ES256", "consumers: [ { name: a, credentials: { jwt: [ { key: k, algorithm: ES256, public_key_file: \"" + rsaFile + "\" } ] } } ]\n", "an RSA key cannot verify ES256"},
		{"curve mismatch", "consumers: [ { name: a, credentials: { jwt: [ { key: k, algorithm: ES384, public_key_file: \"" + p256File + "\" } ] } } ]\n", "ES384 needs a key on P-384, got P-256"},
		{"private key", "consumers: [ { name: a, credentials: { jwt: [ { key: k, algorithm: RS256, public_key_file: \"" + privFile + "\" } ] } } ]\n", "holds a private key"},
		{"not PEM", "consumers: [ { name: a, credentials: { jwt: [ { key: k, algorithm: RS256, public_key: \"hello\" } ] } } ]\n", "is not a PEM public key"},
		{"jwks not http", "consumers: [ { name: a, credentials: { jwt: [ { key: k, algorithm: RS256, jwks_url: \"file:///etc/passwd\" } ] } } ]\n", "must be an http(s) URL"},
		{"short hmac secret", "consumers: [ { name: a, credentials: { hmac: [ { key_id: k, secret: short } ] } } ]\n", "hmac[0].secret: must be at least 32 bytes"},
		{"auth policy under a consumer", "consumers: [ { name: a, policies: [ { name: key-auth } ] } ]\n", "consumers[0].policies[0].name: key-auth authenticates"},
		{"consumer policies without ids", "consumers: [ { name: a, policies: [ { name: limit-count }, { name: limit-count } ] } ]\n", "consumers[0].policies[1].id: required"},
		{"unknown anonymous", `consumers: [ { name: a } ]
upstreams: [ { name: up, targets: [ { addr: "127.0.0.1:1" } ] } ]
routes:
  - match: { paths: ["/*"] }
    upstream: up
    policies: [ { name: jwt-auth, config: { anonymous: nobody } } ]
`, `routes[0].policies[0].config.anonymous: names no consumer: "nobody"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), "c.yaml")
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want %q", err, tc.want)
			}
			for _, secret := range []string{testAPIKey, testHSSecret, testHash} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("the error leaks a secret: %v", err)
				}
			}
		})
	}
}
