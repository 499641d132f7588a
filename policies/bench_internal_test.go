package policies

import (
	"testing"

	"github.com/sluice-gw/sluice/http1"
)

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

// BenchmarkCORSRequestIDWork replays, on the engine's own http1 types, what
// cors and request-id do for one proxied request with an allowed origin —
// the id made and set upstream, the Origin lookups and match, the five
// response edits — and the serialization of the heads they grow, beside
// the same heads without them (edits=none). The difference is their cost
// per request without the noise of sockets (a Ctx cannot be made outside
// the engine; its methods are one-line wrappers of these).
func BenchmarkCORSRequestIDWork(b *testing.B) {
	head := []byte("GET /api/v1/items?id=42 HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: bench/1.0\r\nAccept: application/json\r\nOrigin: https://app.example.com\r\n\r\n")
	respHead := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\n")
	var req http1.Request
	if _, err := req.Parse(head); err != nil {
		b.Fatal(err)
	}
	var resp http1.Response
	if _, err := resp.Parse(respHead, http1.MethodGET); err != nil {
		b.Fatal(err)
	}
	set := testOriginSet(b)
	var reqEdits, respEdits http1.Edits
	var id [40]byte
	scratch := make([]byte, 0, 64)
	out := make([]byte, 0, 1024)
	hdr, vary, origin := []byte("X-Request-Id"), []byte("Vary"), []byte("Origin")
	acao, acac, aceh, yes, expose := []byte("Access-Control-Allow-Origin"), []byte("Access-Control-Allow-Credentials"),
		[]byte("Access-Control-Expose-Headers"), []byte("true"), []byte("X-Total")
	b.Run("edits=none", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			reqEdits.Reset()
			respEdits.Reset()
			out = http1.AppendRequestHead(out[:0], head, &req, &reqEdits)
			out = http1.AppendResponseHead(out[:0], respHead, &resp, &respEdits)
		}
	})
	b.Run("edits=cors+request-id", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			reqEdits.Reset()
			respEdits.Reset()
			// request-id, rewrite
			scratch = appendUUID4(scratch[:0])
			n := copy(id[:], scratch)
			reqEdits.Set(hdr, id[:n])
			// cors, access: not OPTIONS, nothing. header_filter:
			respEdits.Set(hdr, id[:n]) // request-id echo
			respEdits.Add(vary, origin)
			if s, ok := req.Field(head, "Origin"); ok && set.match(s.In(head)) {
				respEdits.Set(acao, s.In(head))
				respEdits.Set(acac, yes)
				respEdits.Set(aceh, expose)
			}
			out = http1.AppendRequestHead(out[:0], head, &req, &reqEdits)
			out = http1.AppendResponseHead(out[:0], respHead, &resp, &respEdits)
		}
	})
}
