package http1

import (
	"errors"
	"testing"
)

func parseReq(t *testing.T, s string) ([]byte, *Request) {
	t.Helper()
	buf := []byte(s)
	r := new(Request)
	r.Reset()
	if _, err := r.Parse(buf); err != nil {
		t.Fatalf("parse: %v", err)
	}
	return buf, r
}

func TestAppendRequestHead(t *testing.T) {
	cases := []struct {
		name  string
		in    string
		edits func(e *Edits)
		want  string
	}{
		{"untouched fields pass byte for byte",
			crlf("GET /a?b HTTP/1.1", "Host: example.com", "accept:  text/html ", "X-Y:z"), nil,
			crlf("GET /a?b HTTP/1.1", "Host: example.com", "accept:  text/html ", "X-Y:z")},
		{"HTTP/1.0 request goes out as 1.1, keep-alive dropped",
			crlf("GET / HTTP/1.0", "Host: a", "Connection: keep-alive", "Keep-Alive: timeout=5"), nil,
			crlf("GET / HTTP/1.1", "Host: a")},
		{"hop-by-hop dropped, framing kept (RFC 9110 §7.6.1)",
			crlf("POST / HTTP/1.1", "Host: a", "Connection: close, X-Secret", "X-Secret: 1", "TE: trailers", "Trailer: X",
				"Proxy-Connection: keep-alive", "Upgrade: h2c", "Transfer-Encoding: chunked", "X-Keep: 2"), nil,
			crlf("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked", "X-Keep: 2")},
		{"Connection cannot strip framing or Host",
			crlf("POST / HTTP/1.1", "Host: a", "Connection: content-length, host", "Content-Length: 3"), nil,
			crlf("POST / HTTP/1.1", "Host: a", "Content-Length: 3")},
		{"absolute-form becomes origin-form, Host from authority (RFC 9112 §3.2.2)",
			crlf("GET http://up.example:81/p?q=1 HTTP/1.1", "Host: ignored", "Accept: */*"), nil,
			crlf("GET /p?q=1 HTTP/1.1", "Host: up.example:81", "Accept: */*")},
		{"absolute-form with empty path",
			crlf("GET http://up.example HTTP/1.1", "Host: up.example"), nil,
			crlf("GET / HTTP/1.1", "Host: up.example")},
		{"HTTP/1.0 without Host gets an empty Host",
			crlf("GET / HTTP/1.0", "Accept: */*"), nil,
			crlf("GET / HTTP/1.1", "Host: ", "Accept: */*")},
		{"CONNECT keeps authority-form",
			crlf("CONNECT a:443 HTTP/1.1", "Host: a:443"), nil,
			crlf("CONNECT a:443 HTTP/1.1", "Host: a:443")},
		{"edits",
			crlf("GET /old HTTP/1.1", "Host: client", "X-Forwarded-For: 1.1.1.1", "X-Drop: 1", "X-Set: old", "x-set: old2", "Accept: a", "X-Forwarded-For: 2.2.2.2"),
			func(e *Edits) {
				e.SetTarget([]byte("/new?x"))
				e.SetHost([]byte("upstream:8080"))
				e.RemoveString("x-drop")
				e.SetString("X-Set", "new")
				e.AddString("X-Add", "1")
				e.Add([]byte("X-Add"), []byte("2"))
				e.ForwardedFor([]byte("3.3.3.3"))
				e.ForwardedProto([]byte("https"))
				e.ForwardedHost([]byte("client"))
			},
			crlf("GET /new?x HTTP/1.1", "Host: upstream:8080", "Accept: a", "X-Forwarded-For: 1.1.1.1, 2.2.2.2, 3.3.3.3",
				"X-Set: new", "X-Add: 1", "X-Add: 2", "X-Forwarded-Proto: https", "X-Forwarded-Host: client")},
		{"forwarded-for without existing",
			crlf("GET / HTTP/1.1", "Host: a"),
			func(e *Edits) { e.ForwardedFor([]byte("::1")) },
			crlf("GET / HTTP/1.1", "Host: a", "X-Forwarded-For: ::1")},
		{"Set replaces earlier Add, Remove drops earlier Set",
			crlf("GET / HTTP/1.1", "Host: a"),
			func(e *Edits) {
				e.AddString("A", "1")
				e.SetString("a", "2")
				e.SetString("B", "1")
				e.RemoveString("b")
				e.AddString("B", "3")
			},
			crlf("GET / HTTP/1.1", "Host: a", "a: 2", "B: 3")},
		{"Set Host is SetHost",
			crlf("GET / HTTP/1.1", "Host: a"),
			func(e *Edits) { e.SetString("host", "b") },
			crlf("GET / HTTP/1.1", "Host: b")},
		{"KeepUpgrade tunnels the upgrade",
			crlf("GET /ws HTTP/1.1", "Host: a", "Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Key: k"),
			func(e *Edits) { e.KeepUpgrade = true },
			crlf("GET /ws HTTP/1.1", "Host: a", "Upgrade: websocket", "Sec-WebSocket-Key: k", "Connection: upgrade")},
		{"invalid edits are refused",
			crlf("GET / HTTP/1.1", "Host: a"),
			func(e *Edits) {
				e.SetString("X-Inject", "a\r\nEvil: 1")
				e.SetString("Bad Name", "v")
				e.SetTarget([]byte("/a b"))
				e.SetHost([]byte("a/b"))
			},
			crlf("GET / HTTP/1.1", "Host: a")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			buf, r := parseReq(t, tc.in)
			var e Edits
			if tc.edits != nil {
				tc.edits(&e)
			}
			got := AppendRequestHead([]byte("prefix"), buf, r, &e)
			if string(got) != "prefix"+tc.want {
				t.Fatalf("got\n%q\nwant\n%q", got, "prefix"+tc.want)
			}
			// What we send must parse strictly.
			var back Request
			back.Reset()
			if _, err := back.Parse(got[len("prefix"):]); err != nil && !(r.Minor == 0 && errors.Is(err, ErrMissingHost)) {
				t.Fatalf("serialized head does not parse: %v", err)
			}
		})
	}
}

func TestEditsErr(t *testing.T) {
	var e Edits
	e.SetString("X", "ok")
	if e.Err() != nil {
		t.Fatal(e.Err())
	}
	e.SetString("X", "a\nb")
	e.SetString("Y(", "b")
	if !errors.Is(e.Err(), ErrFieldValue) {
		t.Fatalf("Err = %v", e.Err())
	}
	e.Reset()
	if e.Err() != nil || len(e.ops) != 0 {
		t.Fatal("Reset")
	}
}

func TestAppendResponseHead(t *testing.T) {
	buf := []byte(crlf("HTTP/1.0 200 Fine", "Connection: keep-alive, X-Hop", "X-Hop: 1", "Keep-Alive: timeout=5", "Content-Length: 2", "Server: up"))
	var r Response
	r.Reset()
	if _, err := r.Parse(buf, MethodGET); err != nil {
		t.Fatal(err)
	}
	var e Edits
	e.SetString("Server", "sluice")
	got := AppendResponseHead(nil, buf, &r, &e)
	want := crlf("HTTP/1.1 200 Fine", "Content-Length: 2", "Server: sluice")
	if string(got) != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	if got := AppendResponseHead(nil, buf, &r, nil); string(got) != crlf("HTTP/1.1 200 Fine", "Content-Length: 2", "Server: up") {
		t.Fatalf("nil edits: %q", got)
	}
	buf = []byte(crlf("HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: upgrade"))
	r.Reset()
	if _, err := r.Parse(buf, MethodGET); err != nil {
		t.Fatal(err)
	}
	e.Reset()
	e.KeepUpgrade = true
	if got := AppendResponseHead(nil, buf, &r, &e); string(got) != crlf("HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: upgrade") {
		t.Fatalf("101: %q", got)
	}
}

func TestIsHopByHop(t *testing.T) {
	for _, n := range []string{"Connection", "keep-alive", "PROXY-CONNECTION", "te", "Trailer", "Upgrade"} {
		if !IsHopByHop([]byte(n)) {
			t.Errorf("%s is hop-by-hop", n)
		}
	}
	for _, n := range []string{"Host", "Content-Length", "Transfer-Encoding", "X-Te", "keep\ralive"} {
		if IsHopByHop([]byte(n)) {
			t.Errorf("%s is end-to-end", n)
		}
	}
}
