package policies

import "testing"

// testOriginSet allows two exact origins and a pattern.
func testOriginSet(t testing.TB) *originSet {
	var set originSet
	for _, o := range []string{"https://app.example.com", "https://b.example.com", "https://*.example.org"} {
		if err := set.add(o, 3); err != nil {
			t.Fatal(err)
		}
	}
	return &set
}

// Handler-level pieces of cors and request-id, without the gateway around
// them (a Ctx cannot be made outside the engine).
func BenchmarkHotPathHelpers(b *testing.B) {
	set := testOriginSet(b)
	buf := make([]byte, 0, 64)
	exact, pattern, miss := []byte("https://app.example.com"), []byte("https://a.b.example.org"), []byte("https://example.com.evil.com")
	id := []byte("0f8fad5b-d9cb-469f-a165-70867728950e")
	for _, bc := range []struct {
		name string
		f    func()
	}{
		{"appendUUID4", func() { buf = appendUUID4(buf[:0]) }},
		{"appendUUID7", func() { buf = appendUUID7(buf[:0], 1700000000000) }},
		{"origin=exact", func() { _ = set.match(exact) }},
		{"origin=pattern", func() { _ = set.match(pattern) }},
		{"origin=refused", func() { _ = set.match(miss) }},
		{"validIncomingID", func() { _ = validIncomingID(id) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bc.f()
			}
		})
	}
}
