package policies

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// FuzzParseJWKS checks parseJWKS on any document a JWKS URL may serve: it
// never panics, it is deterministic, and each key it returns is one the
// document lists under that kid, usable for signatures (no private part,
// use absent or sig), of a type and size whose verification is cheap on
// the event loop (RSA 8192 bits at most, EC on its curve, Ed25519 of 32
// bytes), with the JWK's alg. Each key then verifies a junk signature
// without panicking.
func FuzzParseJWKS(f *testing.F) {
	b64 := base64.RawURLEncoding.EncodeToString
	modulus := func(bits int) string { // odd, of exactly bits bits: verification takes any
		n := make([]byte, bits/8)
		for i := range n {
			n[i] = byte(i*7 + 1)
		}
		n[0] |= 0x80
		n[len(n)-1] |= 1
		return b64(n)
	}
	p256 := elliptic.P256().Params()
	p384 := elliptic.P384().Params()
	gx, gy := b64(p256.Gx.FillBytes(make([]byte, 32))), b64(p256.Gy.FillBytes(make([]byte, 32)))
	for _, s := range []string{
		`{"keys":[{"kty":"RSA","kid":"r1","use":"sig","alg":"RS256","n":"` + modulus(2048) + `","e":"AQAB"}]}`,
		`{"keys":[{"kty":"EC","kid":"e1","crv":"P-256","x":"` + gx + `","y":"` + gy + `"}]}`,
		`{"keys":[{"kty":"EC","kid":"e2","crv":"P-384","x":"` + b64(p384.Gx.FillBytes(make([]byte, 48))) + `","y":"` + b64(p384.Gy.FillBytes(make([]byte, 48))) + `"}]}`,
		`{"keys":[{"kty":"OKP","kid":"o1","crv":"Ed25519","x":"` + b64(make([]byte, 32)) + `"}]}`,
		`{"keys":[{"kty":"EC","kid":"off","crv":"P-256","x":"` + gx + `","y":"` + gx + `"}]}`,
		`{"keys":[{"kty":"EC","kid":"curve","crv":"P-256","x":"` + b64(p384.Gx.FillBytes(make([]byte, 48))) + `","y":"` + b64(p384.Gy.FillBytes(make([]byte, 48))) + `"}]}`,
		`{"keys":[{"kty":"RSA","kid":"enc","use":"enc","n":"` + modulus(2048) + `","e":"AQAB"}]}`,
		`{"keys":[{"kty":"RSA","kid":"priv","n":"` + modulus(2048) + `","e":"AQAB","d":"AQAB"}]}`,
		`{"keys":[{"kty":"RSA","n":"` + modulus(2048) + `","e":"AQAB"}]}`,
		`{"keys":[{"kty":"RSA","kid":"e1","n":"` + modulus(2048) + `","e":"AQ"}]}`,
		`{"keys":[{"kty":"RSA","kid":"ebig","n":"` + modulus(2048) + `","e":"f____w"}]}`,
		`{"keys":[{"kty":"RSA","kid":"ehuge","n":"` + modulus(2048) + `","e":"AQAAAAAAAAAAAQ"}]}`,
		`{"keys":[{"kty":"RSA","kid":"n0","n":"AA","e":"AQAB"}]}`,
		// A modulus past 8192 bits was kept: each token naming it cost a
		// verification of that size on the loop (0.6s at 98304 bits).
		`{"keys":[{"kty":"RSA","kid":"n16k","n":"` + modulus(16384) + `","e":"f____w"}]}`,
		`{"keys":[{"kty":"RSA","kid":"n8k","n":"` + modulus(8192) + `","e":"AQAB"}]}`,
		`{"keys":[{"kty":"RSA","kid":"pad","n":"AQAB==","e":"AQAB"}]}`,
		`{"keys":[{"kty":"RSA","kid":"dup","n":"` + modulus(2048) + `","e":"AQAB"},{"kty":"OKP","kid":"dup","crv":"Ed25519","x":"` + b64(make([]byte, 32)) + `"}]}`,
		`{"KEYS":[{"KTY":"OKP","KID":"case","CRV":"Ed25519","X":"` + b64(make([]byte, 32)) + `"}]}`,
		`{"keys":null}`, `{"keys":[]}`, `{"keys":[null]}`, `{"keys":{}}`, `{}`, `[]`, `null`, ``, `{"keys":[{"kty":1}]}`,
		"{\"keys\":[{\"kty\":\"OKP\",\"kid\":\"\x00\xff\",\"crv\":\"Ed25519\",\"x\":\"" + b64(make([]byte, 32)) + "\"}]}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		keys, err := parseJWKS(body)
		again, err2 := parseJWKS(body)
		if (err == nil) != (err2 == nil) || len(keys) != len(again) {
			t.Fatalf("%q: not deterministic", body)
		}
		if err != nil {
			if keys != nil {
				t.Fatalf("%q: keys with the error %v", body, err)
			}
			return
		}
		var doc struct { // the document as encoding/json reads it for parseJWKS
			Keys []struct {
				Kty, Kid, Use, Alg, Crv, N, E, X, Y, D string
			}
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatalf("%q: parsed, but encoding/json says %v", body, err)
		}
		for kid, k := range keys {
			if kid == "" || !k.sameAs(again[kid]) {
				t.Fatalf("%q: kid %q: empty or not deterministic", body, kid)
			}
			listed := false
			for _, d := range doc.Keys {
				listed = listed || d.Kid == kid && d.D == "" && (d.Use == "" || d.Use == "sig") && d.Alg == k.alg && jwkMatches(d.Kty, d.Crv, d.N, d.E, d.X, d.Y, k.key)
			}
			if !listed {
				t.Fatalf("%q: kid %q: %s key not listed under that kid for signatures", body, kid, describeKey(k.key))
			}
			checkCheapKey(t, kid, k.key)
		}
	})
}

// sameAs reports whether k and o are the same key with the same alg.
func (k jwk) sameAs(o jwk) bool {
	eq, ok := k.key.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(o.key) && k.alg == o.alg
}

// jwkMatches says whether the JWK's members describe pub.
func jwkMatches(kty, crv, n, e, x, y string, pub crypto.PublicKey) bool {
	dec := func(s string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			return nil
		}
		return b
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return kty == "RSA" && len(dec(n)) > 0 && k.N.Cmp(b64Int(n)) == 0 && b64Int(e) != nil && b64Int(e).IsInt64() && b64Int(e).Int64() == int64(k.E)
	case *ecdsa.PublicKey:
		size := (k.Curve.Params().BitSize + 7) / 8
		bx, by := dec(x), dec(y)
		return kty == "EC" && crv == k.Curve.Params().Name && len(bx) == size && len(by) == size &&
			string(bx) == string(k.X.FillBytes(make([]byte, size))) && string(by) == string(k.Y.FillBytes(make([]byte, size)))
	case ed25519.PublicKey:
		return kty == "OKP" && crv == "Ed25519" && string(dec(x)) == string(k)
	}
	return false
}

// checkCheapKey checks that verifying with pub is bounded work, and does
// it once with a junk signature.
func checkCheapKey(t *testing.T, kid string, pub crypto.PublicKey) {
	t.Helper()
	digest := sha256.Sum256([]byte("signed"))
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() > 8192 || k.E < 3 {
			t.Fatalf("kid %q: RSA key of %d bits, exponent %d", kid, k.N.BitLen(), k.E)
		}
		sig := make([]byte, max(k.Size(), 1))
		sig[len(sig)-1] = 1
		if rsa.VerifyPKCS1v15(k, crypto.SHA256, digest[:], sig) == nil {
			t.Fatalf("kid %q: a junk signature verified", kid)
		}
	case *ecdsa.PublicKey:
		if _, err := k.ECDH(); err != nil {
			t.Fatalf("kid %q: %v", kid, err)
		}
		if ecdsa.VerifyASN1(k, digest[:], []byte{0x30, 6, 2, 1, 1, 2, 1, 1}) {
			t.Fatalf("kid %q: a junk signature verified", kid)
		}
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			t.Fatalf("kid %q: Ed25519 key of %d bytes", kid, len(k))
		}
		ed25519.Verify(k, digest[:], make([]byte, ed25519.SignatureSize)) // a key of all zeros may accept it: only no panic
	default:
		t.Fatalf("kid %q: key of type %T", kid, pub)
	}
}

func describeKey(pub crypto.PublicKey) string { return strings.TrimPrefix(fmt.Sprintf("%T", pub), "*") }
