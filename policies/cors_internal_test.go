package policies

import "testing"

func TestOriginMatching(t *testing.T) {
	set := testOriginSet(t)
	for origin, want := range map[string]bool{
		"https://app.example.com":          true,
		"https://b.example.com":            true,
		"https://a.example.org":            true,
		"https://a-1.b2.example.org":       true,
		"https://example.org":              false,
		"https://.example.org":             false,
		"https://a..example.org":           false,
		"https://-.example.org":            true, // a label may be a hyphen for us; DNS would refuse it
		"https://A.example.org":            false,
		"https://a.example.org.evil.com":   false,
		"https://example.com.evil.com":     false,
		"https://app.example.com.evil.com": false,
		"https://evil.com/.example.org":    false,
		"https://evil.com?.example.org":    false,
		"https://evil.com#.example.org":    false,
		"https://u@a.example.org":          false,
		"https://evil.com:1.example.org":   false,
		"http://a.example.org":             false,
		"https://a.example.org:443":        false,
		"null":                             false,
		"":                                 false,
	} {
		if got := set.match([]byte(origin)); got != want {
			t.Errorf("match(%q) = %v, want %v", origin, got, want)
		}
	}
}

func TestWellFormedOrigin(t *testing.T) {
	for origin, want := range map[string]bool{
		"https://a.com": true, "http://localhost:3000": true, "https://[::1]:8443": true, "chrome-extension://abc": true,
		"null": false, "https://": false, "://a.com": false, "https://a b": false, "https://a.com/x": false,
		"https://A.com": false, "1https://a.com": false, "https://a.com?x": false, "https://u@a.com": false,
	} {
		if got := wellFormedOrigin([]byte(origin)); got != want {
			t.Errorf("wellFormedOrigin(%q) = %v, want %v", origin, got, want)
		}
	}
}

func TestUUIDBits(t *testing.T) {
	for i := 0; i < 1000; i++ {
		u4, u7 := string(appendUUID4(nil)), string(appendUUID7(nil, 0x0123456789ab))
		if len(u4) != 36 || u4[14] != '4' || u4[19] < '8' || u4[19] > 'b' || u4[8] != '-' || u4[23] != '-' {
			t.Fatalf("uuid4 %s", u4)
		}
		if u7[:13] != "01234567-89ab" || u7[14] != '7' || u7[19] < '8' || u7[19] > 'b' {
			t.Fatalf("uuid7 %s", u7)
		}
	}
}
