package policies

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"hash/maphash"
	"net/netip"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sluice-gw/sluice/config"
)

func TestIPRangesEdges(t *testing.T) {
	spec := config.PolicySpec{Name: "ip-restriction"}
	for _, tc := range []struct {
		name   string
		list   []string
		in     []string
		out    []string
		ranges int
	}{
		{"v4 /8 bounds", []string{"10.0.0.0/8"}, []string{"10.0.0.0", "10.255.255.255", "10.1.2.3"}, []string{"9.255.255.255", "11.0.0.0", "::a00:1"}, 1},
		{"v4 /32 and /31", []string{"192.0.2.7", "192.0.2.8/31"}, []string{"192.0.2.7", "192.0.2.8", "192.0.2.9"}, []string{"192.0.2.6", "192.0.2.10"}, 1},
		{"v4 all", []string{"0.0.0.0/0"}, []string{"0.0.0.0", "255.255.255.255"}, []string{"::", "::1", "2001:db8::1"}, 1},
		{"v6 all", []string{"::/0"}, []string{"::", "::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "1.2.3.4"}, nil, 1},
		{"v6 /64 and /65 bounds", []string{"2001:db8:0:1::/64", "2001:db8:0:2::/65"},
			[]string{"2001:db8:0:1::", "2001:db8:0:1:ffff:ffff:ffff:ffff", "2001:db8:0:2:7fff:ffff:ffff:ffff"},
			[]string{"2001:db8:0:0:ffff:ffff:ffff:ffff", "2001:db8:0:2:8000::", "2001:db8:0:3::"}, 1}, // adjacent: merged
		{"v6 /128", []string{"::1"}, []string{"::1"}, []string{"::", "::2", "127.0.0.1"}, 1},
		{"v4-mapped written as v6 is the v4 address", []string{"::ffff:192.0.2.0/120"}, []string{"192.0.2.1"}, []string{"192.0.3.1"}, 1},
		{"overlap and adjacency merge", []string{"10.0.0.0/9", "10.128.0.0/9", "10.1.0.0/16", "11.0.0.0/8"}, []string{"10.200.0.1", "11.3.3.3"}, []string{"12.0.0.0"}, 1},
		{"unsorted", []string{"203.0.113.0/24", "192.0.2.0/24", "198.51.100.0/24"}, []string{"192.0.2.1", "198.51.100.255", "203.0.113.0"}, []string{"192.0.3.0", "200.0.0.0"}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := parseRanges(spec, "allow", tc.list)
			if err != nil {
				t.Fatal(err)
			}
			if len(r) != tc.ranges {
				t.Errorf("%d ranges, want %d: %v", len(r), tc.ranges, r)
			}
			for _, s := range tc.in {
				if a, ok := parseIP([]byte(s)); !ok || !r.contains(a) {
					t.Errorf("%s not in %v", s, tc.list)
				}
			}
			for _, s := range tc.out {
				if a, ok := parseIP([]byte(s)); !ok || r.contains(a) {
					t.Errorf("%s in %v", s, tc.list)
				}
			}
		})
	}
}

// FuzzIPRanges checks the merged ranges against netip.Prefix.Contains.
func FuzzIPRanges(f *testing.F) {
	f.Add([]byte{10, 0, 0, 0, 8, 10, 1, 2, 3}, uint8(0))
	f.Add([]byte{192, 0, 2, 0, 24, 192, 0, 2, 255}, uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, v6 uint8) {
		var prefixes []netip.Prefix
		var list []string
		size := 5
		if v6&1 == 1 {
			size = 17
		}
		for len(data) >= size {
			var a netip.Addr
			if size == 5 {
				a = netip.AddrFrom4([4]byte(data[:4]))
			} else {
				a = netip.AddrFrom16([16]byte(data[:16]))
			}
			p := netip.PrefixFrom(a, int(data[size-1])%(a.BitLen()+1)).Masked()
			prefixes = append(prefixes, p)
			list = append(list, p.String())
			data = data[size:]
		}
		r, err := parseRanges(config.PolicySpec{}, "allow", list)
		if err != nil {
			t.Skip()
		}
		for _, p := range prefixes {
			for _, probe := range []netip.Addr{p.Addr(), p.Addr().Prev(), lastOf(p), lastOf(p).Next()} {
				if !probe.IsValid() {
					continue
				}
				want := false
				for _, q := range prefixes {
					want = want || q.Contains(probe) || q.Addr().Is4() && probe.Is4In6() && q.Contains(probe.Unmap())
				}
				if got := r.contains(u128Of(probe)); got != want && !probe.Is4In6() {
					t.Fatalf("%s in %v: %v, want %v", probe, list, got, want)
				}
			}
		}
	})
}

func lastOf(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func TestSecretIndexConstantTimeCandidates(t *testing.T) {
	var s secretIndex[string]
	s.init()
	s.add("key-one-0123456789", "one")
	s.add("key-two-0123456789", "two")
	for _, tc := range []struct{ key, want string }{
		{"key-one-0123456789", "one"}, {"key-two-0123456789", "two"}, {"key-one-012345678", ""}, {"key-one-01234567890", ""}, {"", ""},
	} {
		got, ok := s.find([]byte(tc.key))
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("find(%q) = %q, %v", tc.key, got, ok)
		}
	}
}

func TestParseSignature(t *testing.T) {
	sp, ok := parseSignature([]byte(`keyId="k1", algorithm="hmac-sha256",headers="@request-target date",signature="c2ln"`))
	if !ok || string(sp.keyID) != "k1" || string(sp.algorithm) != "hmac-sha256" || string(sp.headers) != "@request-target date" || string(sp.signature) != "c2ln" {
		t.Fatalf("%q %v", sp, ok)
	}
	for _, bad := range []string{``, `keyId="k1"`, `signature="x"`, `signature="x",`, `signature="x" `, `keyId="k1,signature="x`, `keyId`} {
		if _, ok := parseSignature([]byte(bad)); ok {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestHeaderCase(t *testing.T) {
	for in, want := range map[string]string{"company_id": "Company-Id", "TIER": "Tier", "a-b_c": "A-B-C"} {
		if got := headerCase(in); got != want {
			t.Errorf("headerCase(%q) = %q, want %q", in, got, want)
		}
	}
}

// BenchmarkAuthHotPaths measures the policies' own work on a hit, without
// the gateway (a Ctx cannot be made outside the engine), and the uncached
// JWT verification the cache saves.
func BenchmarkAuthHotPaths(b *testing.B) {
	var keys secretIndex[int]
	keys.init()
	for i := 0; i < 10000; i++ {
		keys.add("consumer-key-"+itoa(i)+"-0123456789", i)
	}
	key := []byte("consumer-key-4242-0123456789")
	seed := maphash.MakeSeed()
	var cache tokenCache
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": "k", "exp": 4e9})
	hsTok, _ := hs.SignedString([]byte("0123456789abcdef0123456789abcdef"))
	cache.add(seed, &cachedToken{token: hsTok}, 1024)
	hsBytes := []byte(hsTok)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsTok, _ := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"iss": "k", "exp": 4e9}).SignedString(rsaKey)
	parser := jwt.NewParser(jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithJSONNumber())
	ranges, _ := parseRanges(config.PolicySpec{}, "allow", []string{"10.0.0.0/8", "192.0.2.0/24", "2001:db8::/32", "198.51.100.7"})
	ip := []byte("192.0.2.77")
	mac := hmac.New(sha256.New, []byte("hmac-secret-0123456789abcdef0123456789"))
	signing := []byte("@request-target: get /api/v1/items?id=42\nhost: api.example.com\ndate: Mon, 30 Nov 2026 05:00:00 GMT")
	var sum [64]byte
	for _, bc := range []struct {
		name string
		f    func()
	}{
		{"key-auth/find-among-10000", func() { _, _ = keys.find(key) }},
		{"jwt-auth/cache-hit", func() { _ = cache.find(seed, hsBytes) }},
		{"jwt-auth/uncached-HS256", func() {
			_, _ = parser.Parse(hsTok, func(*jwt.Token) (any, error) { return []byte("0123456789abcdef0123456789abcdef"), nil })
		}},
		{"jwt-auth/uncached-RS256", func() {
			_, _ = parser.Parse(rsTok, func(*jwt.Token) (any, error) { return &rsaKey.PublicKey, nil })
		}},
		{"hmac-auth/mac-of-a-GET", func() { mac.Reset(); mac.Write(signing); _ = mac.Sum(sum[:0]) }},
		{"ip-restriction/parse+lookup", func() { a, _ := parseIP(ip); _ = ranges.contains(a) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bc.f()
			}
		})
	}
}

func TestParseJWKSSkipsUnusableKeys(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	n := b64url(rsaKey.N.Bytes())
	// A point off P-256 (x = y = 1): the invalid-curve attack's input.
	one := make([]byte, 32)
	one[31] = 1
	doc := `{"keys":[
 {"kty":"RSA","kid":"good","alg":"RS256","n":"` + n + `","e":"AQAB"},
 {"kty":"RSA","kid":"enc","use":"enc","n":"` + n + `","e":"AQAB"},
 {"kty":"RSA","kid":"private","n":"` + n + `","e":"AQAB","d":"AQAB"},
 {"kty":"RSA","n":"` + n + `","e":"AQAB"},
 {"kty":"EC","kid":"off-curve","crv":"P-256","x":"` + b64url(one) + `","y":"` + b64url(one) + `"},
 {"kty":"EC","kid":"short","crv":"P-256","x":"AQ","y":"AQ"},
 {"kty":"oct","kid":"hmac","k":"c2VjcmV0"},
 {"kty":"OKP","kid":"x25519","crv":"X25519","x":"` + b64url(make([]byte, 32)) + `"}
]}`
	keys, err := parseJWKS([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys["good"].alg != "RS256" {
		t.Fatalf("keys %v, want only good", keys)
	}
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
