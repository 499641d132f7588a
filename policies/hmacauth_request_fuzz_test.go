package policies_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/http1"
)

// FuzzHMACAuthRequest sends hmac-auth two requests built around the
// input, and checks the answers against the draft (cavage) and RFC 3230
// rules written apart. First, a signature of any bytes for a known keyId
// and a fresh Date (what anyone can send): let through exactly when it is
// the base64 of the request's HMAC, else 401, never a crash. Then a
// request signed right over Date and a Digest of any value with any body:
// let through exactly when the Digest's first SHA-256= item is the base64
// of the body's SHA-256 (items of other algorithms skipped), else 401.
func FuzzHMACAuthRequest(f *testing.F) {
	sum := sha256.Sum256([]byte(`{"amount":1}`))
	good := base64.StdEncoding.EncodeToString(sum[:])
	for _, s := range [][2]string{
		{"c2ln", "SHA-256=" + good}, {"", "sha-256=" + good}, {"====", "MD5=abc, SHA-256=" + good},
		{"c2ln\x00", "SHA-256=" + good + ", SHA-256=AAAA"}, {"c2ln!", "SHA-256=AAAA, SHA-256=" + good},
		{"YWJj", "SHA-512=" + good}, {"YWJ", "SHA-256=" + strings.TrimRight(good, "=")}, {"\xff", "SHA-256="},
		{"YWJjZA==", "SHA-256=" + good + "AAAA"}, {"YWJjZA==YWJj", " , ,SHA-256= " + good},
		{"", ""}, {"", "SHA-256"}, {"", strings.Repeat("SHA-256=AAAA,", 200)},
		// Signatures longer than the buffer they were decoded into: base64
		// panicked, before any secret was needed (66 bytes fit the check
		// made after decoding).
		{base64.StdEncoding.EncodeToString(make([]byte, 100)), ""}, {strings.Repeat("A", 88), ""},
		// A Digest longer than its 34-byte buffer, behind a valid signature:
		// the same panic (the fuzzer's first crasher).
		{"0", "SHA-256=000000000000000000000000000000000000000000000000"}, {"", "SHA-256=" + good + good},
	} {
		f.Add(s[0], s[1], `{"amount":1}`)
	}
	f.Fuzz(func(t *testing.T, signature, digest, body string) {
		if !http1.ValidFieldValue(signature) || strings.ContainsRune(signature, '"') || !http1.ValidFieldValue(digest) || len(signature)+len(digest)+len(body) > 4<<10 {
			// Not a field a parser lets through, a quote that ends the
			// parameter, or a field line near the parser's 8 KiB cap: the
			// Authorization line adds 110 bytes to the signature, and a
			// line over the cap is a 431 before any policy runs.
			return
		}
		g := authGateway(t, "      - name: hmac-auth\n        config: { clock_skew: 60s }\n", hmacConsumers)

		date := httpDate(0)
		mac := hmac.New(sha256.New, []byte(hmacSecret))
		mac.Write([]byte("@request-target: get /a\ndate: " + date))
		dec, err := base64.StdEncoding.DecodeString(signature)
		want := 401
		if err == nil && hmac.Equal(dec, mac.Sum(nil)) {
			want = 200
		}
		resp := g.Do("GET /a HTTP/1.1\r\nHost: api.test\r\nDate: " + date + "\r\n" +
			`Authorization: Signature keyId="alice-key",algorithm="hmac-sha256",headers="@request-target date",signature="` + signature + "\"\r\n\r\n")
		if body := readAll(resp); resp.StatusCode != want {
			t.Fatalf("signature %q: status %d, want %d (%s)", signature, resp.StatusCode, want, body)
		}

		want = 401
		if digestMatches(digest, body) {
			want = 200
		}
		req := signedRequest{method: "POST", target: "/a", body: body, fields: [][2]string{{"Date", date}, {"Digest", digest}}, signed: "@request-target date digest"}
		if digest == "" {
			req.fields = req.fields[:1] // an empty field is no field
		}
		resp = g.Do(req.raw())
		if got := readAll(resp); resp.StatusCode != want {
			t.Fatalf("digest %q of %q: status %d, want %d (%s)", digest, body, resp.StatusCode, want, got)
		}
	})
}

// digestMatches is RFC 3230's check of a Digest field against a body with
// SHA-256 the only algorithm known: its first SHA-256 item decides.
func digestMatches(digest, body string) bool {
	sum := sha256.Sum256([]byte(body))
	for _, item := range strings.Split(digest, ",") {
		item = strings.TrimSpace(item)
		alg, value, ok := strings.Cut(item, "=")
		if !ok || !strings.EqualFold(alg, "sha-256") {
			continue
		}
		dec, err := base64.StdEncoding.DecodeString(value)
		return err == nil && bytes.Equal(dec, sum[:])
	}
	return false
}
