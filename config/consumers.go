package config

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"
)

// Consumer is one entry of the top-level "consumers:" section: who a request
// is from once an auth policy (key-auth, basic-auth, jwt-auth, hmac-auth)
// has checked its credential. Kong's and APISIX's consumer.
//
// Secrets (keys, JWT and HMAC secrets) never appear in an error message or
// in the String of a credential: errors name the field, not its value. A
// Consumer is not safe for concurrent mutation; Validate fills it once.
type Consumer struct {
	// Name identifies the consumer: [a-zA-Z0-9_.-]+, unique. Required. It is
	// the value of the {consumer} variable and of X-Consumer-Name.
	Name string `yaml:"name"`
	// ID is an optional external id ([a-zA-Z0-9_.-]+, unique when set),
	// sent upstream as X-Consumer-ID. Default "".
	ID string `yaml:"id,omitempty"`
	// Groups the consumer belongs to, for the acl policy: names of
	// [a-zA-Z0-9_.-]+. Default none.
	Groups []string `yaml:"groups,omitempty"`
	// Metadata are free key/value pairs (keys [a-zA-Z0-9_-]+), such as
	// company_id; auth policies forward the ones they list. Default none.
	Metadata map[string]string `yaml:"metadata,omitempty"`
	// Credentials are the consumer's secrets, per auth type. Each is unique
	// across consumers. Default none (the consumer can then only be a
	// policy's anonymous consumer).
	Credentials Credentials `yaml:"credentials,omitempty"`
	// Policies apply only to this consumer's requests, on every route,
	// once an auth policy has named the consumer: its own limit, its own
	// headers. One with the identity (id, else name) of a route or global
	// policy replaces it for this consumer (tiers). Auth policies are
	// refused. Default none.
	Policies []PolicySpec `yaml:"policies,omitempty"`
}

// Credentials are a consumer's credentials, by auth type.
type Credentials struct {
	// KeyAuth are API keys for the key-auth policy.
	KeyAuth []KeyAuthCredential `yaml:"key_auth,omitempty"`
	// BasicAuth are username/password pairs for the basic-auth policy.
	BasicAuth []BasicAuthCredential `yaml:"basic_auth,omitempty"`
	// JWT are the keys of the jwt-auth policy.
	JWT []JWTCredential `yaml:"jwt,omitempty"`
	// HMAC are the shared secrets of the hmac-auth policy.
	HMAC []HMACCredential `yaml:"hmac,omitempty"`
}

// KeyAuthCredential is one API key.
type KeyAuthCredential struct {
	// Key is the API key: 16 to 256 visible ASCII bytes. Required
	// (exclusive with KeyFile).
	Key string `yaml:"key,omitempty"`
	// KeyFile names a file holding the key (trailing newlines cut), read
	// by Validate. Exclusive with Key.
	KeyFile string `yaml:"key_file,omitempty"`

	key string
}

// String describes the credential without its key.
func (k KeyAuthCredential) String() string { return "key_auth{key: <hidden>}" }

// BasicAuthCredential is a username and a bcrypt hash of the password.
type BasicAuthCredential struct {
	// Username as sent in Authorization: Basic; no ':'. Required, unique.
	Username string `yaml:"username"`
	// PasswordHash is a bcrypt hash ("$2b$10$..."), cost 4..31 (10 or
	// more is advised). Required: plain passwords are never stored.
	PasswordHash string `yaml:"password_hash"`
}

// String describes the credential without its hash.
func (b BasicAuthCredential) String() string {
	return "basic_auth{username: " + strconv.Quote(b.Username) + "}"
}

// JWT algorithms accepted by JWTCredential.Algorithm.
var jwtAlgorithms = []string{"HS256", "HS384", "HS512", "RS256", "RS384", "RS512",
	"PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// JWTCredential is a key that verifies a consumer's tokens. The algorithm is
// the credential's: a token naming another one is refused.
type JWTCredential struct {
	// Key identifies the credential in tokens: the value of the claim the
	// jwt-auth policy looks at (iss by default) or of the token's kid.
	// Required, unique among JWT credentials.
	Key string `yaml:"key"`
	// Algorithm is one of HS256, HS384, HS512, RS256..RS512, PS256..PS512,
	// ES256, ES384, ES512, EdDSA. Default HS256.
	Algorithm string `yaml:"algorithm,omitempty"`
	// Secret is the HMAC secret (HS*), at least as long as the hash (32,
	// 48, 64 bytes). Exactly one of Secret, SecretFile, PublicKey,
	// PublicKeyFile or JWKSURL is given, matching the algorithm.
	Secret string `yaml:"secret,omitempty"`
	// SecretFile names a file holding the secret.
	SecretFile string `yaml:"secret_file,omitempty"`
	// Base64Secret says Secret (or the file) is base64 (standard or URL
	// alphabet, padded or not). Default false.
	Base64Secret bool `yaml:"base64_secret,omitempty"`
	// PublicKey is a PEM public key (PKIX "PUBLIC KEY", PKCS#1 "RSA PUBLIC
	// KEY", or a certificate) for RS*, PS* (RSA, 2048 bits or more), ES*
	// (the algorithm's curve) and EdDSA (Ed25519).
	PublicKey string `yaml:"public_key,omitempty"`
	// PublicKeyFile names a file holding PublicKey.
	PublicKeyFile string `yaml:"public_key_file,omitempty"`
	// JWKSURL is an http(s) URL of a JSON Web Key Set: the key is the one of
	// the token's kid, of the credential's algorithm; fetched and refreshed
	// by the jwt-auth policy, off the event loops. Asymmetric algorithms only.
	JWKSURL string `yaml:"jwks_url,omitempty"`

	material any // []byte for HS*, a crypto.PublicKey otherwise; nil for JWKS
}

// String describes the credential without its secret.
func (j JWTCredential) String() string {
	return "jwt{key: " + strconv.Quote(j.Key) + ", algorithm: " + j.Algorithm + "}"
}

// KeyMaterial is the verification key Validate read: the secret ([]byte)
// for HS*, a *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
// otherwise; nil for a JWKS credential. Read only.
func (j *JWTCredential) KeyMaterial() any { return j.material }

// HMACCredential is a shared secret of the hmac-auth policy.
type HMACCredential struct {
	// KeyID is the keyId of the Signature authorization. Required, unique.
	KeyID string `yaml:"key_id"`
	// Secret is the HMAC secret, 32 bytes or more. Exactly one of Secret
	// and SecretFile.
	Secret string `yaml:"secret,omitempty"`
	// SecretFile names a file holding the secret.
	SecretFile string `yaml:"secret_file,omitempty"`

	secret []byte
}

// String describes the credential without its secret.
func (h HMACCredential) String() string { return "hmac{key_id: " + strconv.Quote(h.KeyID) + "}" }

// SecretBytes is the secret Validate read. Read only.
func (h *HMACCredential) SecretBytes() []byte { return h.secret }

// KeyBytes is the key Validate read (Key or KeyFile's content). Read only.
func (k *KeyAuthCredential) KeyBytes() string { return k.key }

// authPolicies are the policies whose `anonymous` setting names a consumer.
var authPolicies = map[string]bool{"key-auth": true, "basic-auth": true, "jwt-auth": true, "hmac-auth": true}

// maxKeyFile caps what Validate reads of a secret or key file.
const maxKeyFile = 64 << 10

func (v *validator) consumers(c *Config) {
	names := make(map[string]string, len(c.Consumers))
	ids := make(map[string]string)
	creds := make(map[string]string) // "kind\x00value" -> path of its first use
	for i := range c.Consumers {
		cs, p := &c.Consumers[i], "consumers["+strconv.Itoa(i)+"]"
		if cs.Name == "" {
			v.errf(p+".name", "is required")
		} else {
			v.name(p+".name", cs.Name)
			if first, dup := names[cs.Name]; dup {
				v.errf(p+".name", "duplicate consumer name %q (first at %s)", cs.Name, first)
			} else {
				names[cs.Name] = p
			}
		}
		if cs.ID != "" {
			v.name(p+".id", cs.ID)
			if first, dup := ids[cs.ID]; dup {
				v.errf(p+".id", "duplicate consumer id %q (first at %s)", cs.ID, first)
			} else {
				ids[cs.ID] = p
			}
		}
		for j, g := range cs.Groups {
			v.name(p+".groups["+strconv.Itoa(j)+"]", g)
		}
		for k, val := range cs.Metadata {
			kp := keyPath(p+".metadata", k)
			if !validMetaKey(k) {
				v.errf(kp, "keys must match [a-zA-Z0-9_-]+ (they become header names)")
			}
			if !visibleOrSpace(val) {
				v.errf(kp, "must be printable ASCII without control characters (it may be sent as a header)")
			}
		}
		v.credentials(&cs.Credentials, p+".credentials", creds)
		if len(cs.Policies) > 0 {
			v.policies(p+".policies", cs.Policies)
			for j := range cs.Policies {
				if authPolicies[cs.Policies[j].Name] {
					v.errf(p+".policies["+strconv.Itoa(j)+"].name", "%s authenticates: a consumer's policies run once authentication has named the consumer", cs.Policies[j].Name)
				}
			}
		}
	}
	v.anonymousRefs("global_policies", c.GlobalPolicies, names)
	for i, r := range c.Routes.All() {
		v.anonymousRefs("routes["+strconv.Itoa(i)+"].policies", r.Policies, names)
	}
}

// use records a credential's unique value; a second use is an error naming
// both places, never the value.
func (v *validator) use(creds map[string]string, kind, value, p string) {
	k := kind + "\x00" + value
	if first, dup := creds[k]; dup {
		v.errf(p, "duplicate %s credential: %s already has it (credentials are unique across consumers)", kind, first)
		return
	}
	creds[k] = p
}

func (v *validator) credentials(c *Credentials, p string, creds map[string]string) {
	for i := range c.KeyAuth {
		k, kp := &c.KeyAuth[i], p+".key_auth["+strconv.Itoa(i)+"]"
		k.key = ""
		if key, ok := v.secretSource(kp, k.Key, k.KeyFile, "key", "key_file"); ok {
			switch {
			case len(key) < 16 || len(key) > 256:
				v.errf(kp+".key", "must be 16 to 256 bytes long, got %d", len(key))
			case !visible(key):
				v.errf(kp+".key", "must be visible ASCII (no spaces or control characters)")
			default:
				k.key = key
				v.use(creds, "key_auth", key, kp+".key")
			}
		}
	}
	for i := range c.BasicAuth {
		b, bp := &c.BasicAuth[i], p+".basic_auth["+strconv.Itoa(i)+"]"
		switch {
		case b.Username == "":
			v.errf(bp+".username", "is required")
		case strings.ContainsRune(b.Username, ':') || !visibleOrSpace(b.Username):
			v.errf(bp+".username", "must be printable ASCII without ':'")
		default:
			v.use(creds, "basic_auth", b.Username, bp+".username")
		}
		if b.PasswordHash == "" {
			v.errf(bp+".password_hash", "is required: a bcrypt hash (htpasswd -nbB user pass), never a plain password")
		} else if _, err := bcrypt.Cost([]byte(b.PasswordHash)); err != nil {
			v.errf(bp+".password_hash", "is not a bcrypt hash ($2a$, $2b$ or $2y$)")
		}
	}
	for i := range c.JWT {
		j, jp := &c.JWT[i], p+".jwt["+strconv.Itoa(i)+"]"
		if j.Key == "" {
			v.errf(jp+".key", "is required (the value of the key claim or kid)")
		} else {
			v.use(creds, "jwt", j.Key, jp+".key")
		}
		v.jwtKey(j, jp)
	}
	for i := range c.HMAC {
		h, hp := &c.HMAC[i], p+".hmac["+strconv.Itoa(i)+"]"
		if h.KeyID == "" {
			v.errf(hp+".key_id", "is required")
		} else if !visible(h.KeyID) || strings.ContainsAny(h.KeyID, `",`) {
			v.errf(hp+".key_id", `must be visible ASCII without '"' or ','`)
		} else {
			v.use(creds, "hmac", h.KeyID, hp+".key_id")
		}
		h.secret = nil
		if secret, ok := v.secretSource(hp, h.Secret, h.SecretFile, "secret", "secret_file"); ok {
			if len(secret) < 32 {
				v.errf(hp+".secret", "must be at least 32 bytes long, got %d", len(secret))
			} else {
				h.secret = []byte(secret)
			}
		}
	}
}

// secretSource returns the secret given inline (value) or in file: exactly
// one of them.
func (v *validator) secretSource(p string, value, file, valueKey, fileKey string) (string, bool) {
	switch {
	case value != "" && file != "":
		v.errf(p+"."+fileKey, "is exclusive with %s; set one of them", valueKey)
		return "", false
	case file != "":
		data, err := readKeyFile(file)
		if err != nil {
			v.errf(p+"."+fileKey, "%s", err)
			return "", false
		}
		return string(bytes.TrimRight(data, "\r\n")), true
	case value == "":
		v.errf(p+"."+valueKey, "is required (or %s)", fileKey)
		return "", false
	}
	return value, true
}

func (v *validator) jwtKey(j *JWTCredential, p string) {
	j.material = nil
	if j.Algorithm == "" {
		j.Algorithm = "HS256"
	}
	known := false
	for _, a := range jwtAlgorithms {
		known = known || a == j.Algorithm
	}
	if !known {
		v.errf(p+".algorithm", "must be one of %s, got %q (none is never accepted)", strings.Join(jwtAlgorithms, ", "), j.Algorithm)
		return
	}
	sources := 0
	for _, s := range []string{j.Secret, j.SecretFile, j.PublicKey, j.PublicKeyFile, j.JWKSURL} {
		if s != "" {
			sources++
		}
	}
	if sources != 1 {
		v.errf(p, "needs exactly one of secret, secret_file (HS*), public_key, public_key_file or jwks_url (RS*, PS*, ES*, EdDSA)")
		return
	}
	if strings.HasPrefix(j.Algorithm, "HS") {
		if j.Secret == "" && j.SecretFile == "" {
			v.errf(p+".algorithm", "%s needs secret or secret_file: an HMAC algorithm never uses a public key (algorithm confusion)", j.Algorithm)
			return
		}
		secret := j.Secret
		if j.SecretFile != "" {
			data, err := readKeyFile(j.SecretFile)
			if err != nil {
				v.errf(p+".secret_file", "%s", err)
				return
			}
			secret = string(bytes.TrimRight(data, "\r\n"))
		}
		key := []byte(secret)
		if j.Base64Secret {
			var err error
			if key, err = decodeBase64(secret); err != nil {
				v.errf(p+".secret", "is not base64")
				return
			}
		}
		if need := hashBytes(j.Algorithm); len(key) < need {
			v.errf(p+".secret", "%s needs a secret of at least %d bytes (RFC 7518), got %d", j.Algorithm, need, len(key))
			return
		}
		j.material = key
		return
	}
	if j.Secret != "" || j.SecretFile != "" {
		v.errf(p+".algorithm", "%s needs public_key, public_key_file or jwks_url, not a secret", j.Algorithm)
		return
	}
	if j.Base64Secret {
		v.errf(p+".base64_secret", "applies to HS* secrets only")
	}
	if j.JWKSURL != "" {
		u, err := url.Parse(j.JWKSURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			v.errf(p+".jwks_url", "must be an http(s) URL")
		}
		return
	}
	pemText := []byte(j.PublicKey)
	if j.PublicKeyFile != "" {
		data, err := readKeyFile(j.PublicKeyFile)
		if err != nil {
			v.errf(p+".public_key_file", "%s", err)
			return
		}
		pemText = data
	}
	field := p + ".public_key"
	if j.PublicKeyFile != "" {
		field = p + ".public_key_file"
	}
	pub, err := ParsePublicKeyPEM(pemText)
	if err != nil {
		v.errf(field, "%s", err)
		return
	}
	if err := CheckJWTKey(j.Algorithm, pub); err != nil {
		v.errf(field, "%s", err)
		return
	}
	j.material = pub
}

// ParsePublicKeyPEM reads the first PEM block of text: a PKIX public key,
// a PKCS#1 RSA public key or a certificate (its key). A private key is
// refused: the gateway only verifies.
func ParsePublicKeyPEM(text []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(text)
	if block == nil {
		return nil, fmt.Errorf("is not a PEM public key")
	}
	switch block.Type {
	case "PUBLIC KEY":
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PUBLIC KEY block: %v", err)
		}
		return pub, nil
	case "RSA PUBLIC KEY":
		pub, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("RSA PUBLIC KEY block: %v", err)
		}
		return pub, nil
	case "CERTIFICATE":
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("CERTIFICATE block: %v", err)
		}
		return cert.PublicKey, nil
	}
	if strings.Contains(block.Type, "PRIVATE") {
		return nil, fmt.Errorf("holds a private key: give the public key only")
	}
	return nil, fmt.Errorf("PEM block %q is not a public key", block.Type)
}

// CheckJWTKey says whether pub may verify alg: RSA of 2048 bits or more for
// RS* and PS*, the algorithm's own curve for ES*, Ed25519 for EdDSA.
func CheckJWTKey(alg string, pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if !strings.HasPrefix(alg, "RS") && !strings.HasPrefix(alg, "PS") {
			return fmt.Errorf("an RSA key cannot verify %s", alg)
		}
		if k.N.BitLen() < 2048 {
			return fmt.Errorf("RSA key of %d bits: 2048 or more are required", k.N.BitLen())
		}
	case *ecdsa.PublicKey:
		want := map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()}[alg]
		if want == nil {
			return fmt.Errorf("an ECDSA key cannot verify %s", alg)
		}
		if k.Curve != want {
			return fmt.Errorf("%s needs a key on %s, got %s", alg, want.Params().Name, k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
		if alg != "EdDSA" {
			return fmt.Errorf("an Ed25519 key cannot verify %s", alg)
		}
	default:
		return fmt.Errorf("unsupported public key type %T", pub)
	}
	return nil
}

func hashBytes(alg string) int {
	switch alg[len(alg)-3:] {
	case "384":
		return 48
	case "512":
		return 64
	}
	return 32
}

func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if b, err := base64.RawStdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawURLEncoding.DecodeString(s)
}

// anonymousRefs checks that the `anonymous` setting of auth policies names
// a consumer, so that a typo is a config error rather than a 500.
func (v *validator) anonymousRefs(p string, specs []PolicySpec, names map[string]string) {
	for i := range specs {
		s := &specs[i]
		if !authPolicies[s.Name] || s.Config.Kind != yaml.MappingNode {
			continue
		}
		for k := 0; k+1 < len(s.Config.Content); k += 2 {
			if s.Config.Content[k].Value != "anonymous" {
				continue
			}
			n := s.Config.Content[k+1]
			if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
				continue // not a name: the policy's decoder reports it
			}
			if _, ok := names[n.Value]; !ok && n.Value != "" {
				v.errf(p+"["+strconv.Itoa(i)+"].config.anonymous", "names no consumer: %q", n.Value)
			}
		}
	}
}

func readKeyFile(name string) ([]byte, error) {
	st, err := os.Stat(name) // before opening: a FIFO would block
	if err != nil {
		return nil, fmt.Errorf("cannot read the key file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%q must be a regular file", name)
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("cannot read the key file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("cannot read the key file %q: %v", name, err)
	case len(data) > maxKeyFile:
		return nil, fmt.Errorf("%q is larger than %d bytes", name, maxKeyFile)
	case len(bytes.TrimSpace(data)) == 0:
		return nil, fmt.Errorf("%q is empty", name)
	}
	return data, nil
}

func validMetaKey(k string) bool {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return k != ""
}

func visible(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

func visibleOrSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
