package policies_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sluice-gw/sluice/http1"
)

const jwtFuzzPolicy = "      - name: jwt-auth\n        config: { query_arg: jwt, cookie: jwt, claims_to_headers: { company_id: X-Company-Id } }\n"

// FuzzJWTAuthToken runs jwt-auth over hostile tokens, twice each (the
// second answer may come from the verified-token cache). First any bytes
// as the token, from the Authorization field, the query and a cookie: a
// 200 only when the token's signature verifies, checked here with the
// crypto packages, under one of the configured keys; else a 401 whose body
// quotes neither the token nor the secret. Then a token signed right with
// the HS256 credential's secret over any header and claims: a 200 only for
// alg HS256, iss alice-hs and an exp in the future, and the claim header
// the upstream gets is the company_id claim, a string without controls.
func FuzzJWTAuthToken(f *testing.F) {
	consumers, _ := jwtConsumers(f)
	hs := []byte(hsSecret)
	now := time.Now().Unix()
	good := sign(f, jwt.SigningMethodHS256, hs, claims("alice-hs"), nil)
	for _, tok := range []string{
		good,
		sign(f, jwt.SigningMethodRS256, jwtKeys.rsa, claims("alice-rs"), nil),
		sign(f, jwt.SigningMethodES256, jwtKeys.ec, claims("bob-es"), nil),
		sign(f, jwt.SigningMethodEdDSA, jwtKeys.ed, claims("bob-ed"), nil),
		good + "=", " " + good + "\t", strings.Replace(good, ".", "..", 1), good[:len(good)-2],
		b64(`{"alg":"none"}`) + "." + b64(`{"iss":"alice-hs","exp":`+itoa64(now+600)+`}`) + ".",
		"", ".", "..", "a.b.c", "\xff.\xfe.\xfd", "Bearer x",
	} {
		f.Add(tok, `{"alg":"HS256","typ":"JWT"}`, `{"iss":"alice-hs","company_id":"acme","exp":`+itoa64(now+600)+`}`)
	}
	for _, c := range [][2]string{
		{`{"alg":"HS256","kid":{"a":[1]}}`, `{"iss":"alice-hs","exp":1e999}`},
		{`{"alg":"HS256","crit":["exp"]}`, `{"iss":"alice-hs","exp":-1e999,"nbf":1e999}`},
		{`{"alg":"HS256"}`, `{"iss":"alice-hs","exp":"9999999999"}`},
		{`{"alg":"HS256"}`, `{"iss":"alice-hs","exp":99999999999999999999,"company_id":"a\r\nX-Admin: 1"}`},
		{`{"alg":"HS256"}`, `{"iss":"alice-hs","exp":0.5,"iat":-1}`},
		{`{"alg":"HS256"}`, `{"iss":["alice-hs"],"exp":9999999999}`},
		{`{"alg":"HS256"}`, `{"iss":"alice-hs","iss":"bob-es","exp":9999999999,"company_id":123e4}`},
		{`{"alg":"HS256"}`, `{"iss":"alice-hs","exp":9999999999,"company_id":"\u0000"}`},
		{`{"alg":"hs256"}`, `{"iss":"alice-hs","exp":9999999999}`},
		{`null`, `null`}, {`[]`, `{}`}, {`{"alg":"HS256"}`, `{"iss":"alice-hs","exp":9999999999,"nbf":null,"iat":true}`},
	} {
		f.Add("", c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, token, header, payload string) {
		if len(token)+len(header)+len(payload) > 4<<10 {
			return
		}
		g := authGateway(t, jwtFuzzPolicy, consumers)

		// Any bytes: from every place a token is read.
		type place struct{ target, field, tok string }
		var places []place
		if http1.ValidFieldValue(token) && strings.Trim(token, " \t") != "" {
			places = append(places, place{"/", "Authorization: Bearer " + token, strings.Trim(token, " \t")})
		}
		if queryToken(token) {
			places = append(places, place{"/?jwt=" + token, "", token})
		}
		if cookieToken(token) {
			places = append(places, place{"/", "Cookie: a=1; jwt=" + token, token})
		}
		for _, pl := range places {
			var fields []string
			if pl.field != "" {
				fields = append(fields, pl.field)
			}
			tok := pl.tok
			want := 401
			if verifiesWithSomeKey(tok) {
				want = 200 // a token signed right may still be refused for its claims
			}
			for i := 0; i < 2; i++ {
				resp, _, body := get(t, g, pl.target, fields...)
				if resp.StatusCode != 401 && resp.StatusCode != want {
					t.Fatalf("token %q at %q %q (round %d): status %d, want 401 or %d (%s)", token, pl.target, pl.field, i, resp.StatusCode, want, body)
				}
				if resp.StatusCode == 401 && (len(tok) >= 8 && strings.Contains(body, tok) || strings.Contains(body, hsSecret)) {
					t.Fatalf("the refusal of %q quotes the token or the secret: %s", token, body)
				}
			}
		}

		// A token signed with the secret over any header and claims.
		signing := b64(header) + "." + b64(payload)
		mac := hmac.New(sha256.New, hs)
		mac.Write([]byte(signing))
		signed := signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
		var first string
		for i := 0; i < 2; i++ {
			resp, up, body := get(t, g, "/", "Authorization: Bearer "+signed, "X-Company-Id: client-sent")
			if resp.StatusCode != 200 && resp.StatusCode != 401 {
				t.Fatalf("header %q claims %q: status %d (%s)", header, payload, resp.StatusCode, body)
			}
			if resp.StatusCode == 401 {
				if i == 1 && first != "" {
					t.Fatalf("header %q claims %q: 200 then 401 from the cache (%s)", header, payload, body)
				}
				continue
			}
			if reason := shouldRefuse(header, payload); reason != "" {
				t.Fatalf("header %q claims %q: accepted, but %s", header, payload, reason)
			}
			var c map[string]any
			_ = json.Unmarshal([]byte(payload), &c)
			company, isString := c["company_id"].(string)
			got := up.Header.Values("X-Company-Id")
			switch {
			case isString && !hasControl(company):
				// The upstream's parser trims the spaces around a value.
				if len(got) != 1 || got[0] != strings.Trim(company, " \t") {
					t.Fatalf("claims %q: X-Company-Id %q, want %q", payload, got, company)
				}
			case isString:
				if len(got) != 0 {
					t.Fatalf("claims %q: X-Company-Id %q from a claim with controls", payload, got)
				}
			default:
				for _, v := range got {
					if v == "client-sent" {
						t.Fatalf("claims %q: the client's X-Company-Id reached the upstream", payload)
					}
				}
			}
			if i == 0 {
				first = strings.Join(got, ",")
			} else if strings.Join(got, ",") != first {
				t.Fatalf("claims %q: X-Company-Id %q verified, %q from the cache", payload, first, got)
			}
		}
	})
}

// shouldRefuse says why a token signed with alice-hs's secret must not be
// accepted, "" when nothing forbids it. It reads the JSON with
// encoding/json, as RFC 7519 does, apart from the policy.
func shouldRefuse(header, payload string) string {
	var h map[string]any
	if json.Unmarshal([]byte(header), &h) != nil || h == nil {
		return "the header is not a JSON object"
	}
	if h["alg"] != "HS256" {
		return "alg is not HS256"
	}
	var c map[string]any
	d := json.NewDecoder(strings.NewReader(payload))
	d.UseNumber()
	if d.Decode(&c) != nil || c == nil {
		return "the claims are not a JSON object"
	}
	if c["iss"] != "alice-hs" {
		return "iss is not alice-hs"
	}
	now := float64(time.Now().Unix())
	exp, ok := numericDate(c["exp"])
	if !ok || exp <= now {
		return "exp is not a number in the future"
	}
	for _, name := range []string{"nbf", "iat"} {
		if v, present := c[name]; present {
			if d, ok := numericDate(v); !ok || d > now+1 {
				return name + " is not a number in the past"
			}
		}
	}
	return ""
}

func numericDate(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := n.Float64()
	return f, err == nil
}

// verifiesWithSomeKey says whether the token is three base64url parts
// whose third is a signature of the first two by one of the credentials'
// keys, checked with the crypto packages, without the JWT library.
func verifiesWithSomeKey(token string) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return false
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return false
	}
	signing := []byte(parts[0] + "." + parts[1])
	sum := sha256.Sum256(signing)
	mac := hmac.New(sha256.New, []byte(hsSecret))
	mac.Write(signing)
	if hmac.Equal(sig, mac.Sum(nil)) {
		return true
	}
	if rsa.VerifyPKCS1v15(&jwtKeys.rsa.PublicKey, crypto.SHA256, sum[:], sig) == nil ||
		rsa.VerifyPSS(&jwtKeys.rsa.PublicKey, crypto.SHA256, sum[:], sig, nil) == nil {
		return true
	}
	if len(sig) == 64 && ecdsa.Verify(&jwtKeys.ec.PublicKey, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return true
	}
	return ed25519.Verify(jwtKeys.ed.Public().(ed25519.PublicKey), signing, sig)
}

// queryToken says whether s can stand raw in a query argument's value.
func queryToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~=+/", c) >= 0) {
			return false
		}
	}
	return s != ""
}

// cookieToken says whether s can stand as a cookie's value (RFC 6265
// cookie-octets).
func cookieToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == '"' || c == ',' || c == ';' || c == '\\' {
			return false
		}
	}
	return s != ""
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] == 0x7f {
			return true
		}
	}
	return false
}
