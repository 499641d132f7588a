package engine

import (
	"strings"
	"testing"
)

// testCtx is a request context outside a connection: enough for the
// request view, values and templates.
func testCtx(t testing.TB, raw string) *Ctx {
	t.Helper()
	x := &Ctx{cc: &clientConn{remoteIP: []byte("192.0.2.7"), w: &worker{srv: &Server{idPrefix: "test"}}}}
	x.cc.x = x
	x.head = []byte(raw)
	x.req.Reset()
	n, err := x.req.Parse(x.head)
	if err != nil || n != len(raw) {
		t.Fatalf("parse %q: %d %v", raw, n, err)
	}
	x.vals = growTo(x.vals, int(valsShared)+4)
	x.ints = growTo(x.ints, int(intsShared)+4)
	return x
}

const sampleRequest = "GET /users/42?page=3&sort=name&flag HTTP/1.1\r\nHost: api.example.com\r\n" +
	"Cookie: theme=dark; session=\"abc\"\r\nX-Tenant: acme\r\nX-Api-Key: k1\r\n\r\n"

func TestTemplates(t *testing.T) {
	x := testCtx(t, sampleRequest)
	x.SetConsumer(&Consumer{Name: "alice", Meta: map[string]string{"company_id": "c9"}})
	for _, c := range []struct{ tpl, want string }{
		{"{consumer}:{arg_page}", "alice:3"},
		{"{http_x_tenant}/{cookie_session}/{cookie_theme}", "acme/abc/dark"},
		{"{remote_addr} {method} {host} {path} {args}", "192.0.2.7 GET api.example.com /users/42 page=3&sort=name&flag"},
		{"{consumer_meta_company_id}-{arg_flag}-{arg_none}", "c9--"},
		{"{{literal}} {uri}", "{literal} /users/42?page=3&sort=name&flag"},
		{"", ""},
	} {
		tp, err := ParseTemplate(c.tpl)
		if err != nil {
			t.Fatalf("%q: %v", c.tpl, err)
		}
		if got, _ := tp.Append(nil, x); string(got) != c.want {
			t.Errorf("%q = %q, want %q", c.tpl, got, c.want)
		}
	}
	tp, _ := ParseTemplate("{arg_none}{http_none}{consumer}")
	x.SetConsumer(nil)
	if _, missing := tp.Append(nil, x); missing != 3 {
		t.Errorf("missing = %d, want 3", missing)
	}
	for _, bad := range []string{"{nope}", "{arg_}", "{consumer", "consumer}", "{http_x"} {
		if _, err := ParseTemplate(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestRequestView(t *testing.T) {
	x := testCtx(t, sampleRequest)
	if v, ok := x.Arg("sort"); !ok || string(v) != "name" {
		t.Errorf("Arg(sort) = %q %v", v, ok)
	}
	if v, ok := x.Arg("flag"); !ok || len(v) != 0 {
		t.Errorf("Arg(flag) = %q %v", v, ok)
	}
	if _, ok := x.Arg("none"); ok {
		t.Error("Arg(none) found")
	}
	var args []string
	x.VisitArgs(func(k, v []byte) bool { args = append(args, string(k)+"="+string(v)); return true })
	if strings.Join(args, ",") != "page=3,sort=name,flag=" {
		t.Errorf("VisitArgs = %v", args)
	}
	if v, ok := x.Cookie("session"); !ok || string(v) != "abc" {
		t.Errorf("Cookie(session) = %q %v", v, ok)
	}
	n := 0
	x.VisitHeaders(func(k, v []byte) bool { n++; return !strings.EqualFold(string(k), "cookie") })
	if n != 2 {
		t.Errorf("VisitHeaders stopped after %d fields, want 2", n)
	}
	k := NewPrivateKey[*Consumer](&ChainBuilder{})
	if _, ok := Get(x, k); ok {
		t.Error("unset key found")
	}
	Set(x, k, &Consumer{Name: "b"})
	if c, ok := Get(x, k); !ok || c.Name != "b" {
		t.Errorf("Get = %v %v", c, ok)
	}
	if x.Consumer() != nil {
		t.Error("a private key wrote the shared consumer")
	}
}

func FuzzParseTemplate(f *testing.F) {
	for _, s := range []string{"{consumer}:{arg_page}", "{{x}}", "{http_x_y}-{cookie_c}", "}", "{", "{{{arg_a}}}", "a{route}b"} {
		f.Add(s)
	}
	x := testCtx(f, sampleRequest)
	f.Fuzz(func(t *testing.T, s string) {
		tp, err := ParseTemplate(s)
		if err != nil {
			return
		}
		out, _ := tp.Append(nil, x)
		if !strings.ContainsAny(s, "{}") && string(out) != s {
			t.Fatalf("plain text %q rendered as %q", s, out)
		}
		if tp.String() != s {
			t.Fatalf("String() = %q", tp.String())
		}
	})
}

func BenchmarkTemplateAppend(b *testing.B) {
	x := testCtx(b, sampleRequest)
	x.SetConsumer(&Consumer{Name: "alice"})
	tp, _ := ParseTemplate("{consumer}:{arg_page}:{http_x_tenant}:{cookie_theme}")
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf, _ = tp.Append(buf[:0], x)
	}
}

func BenchmarkValueGetSet(b *testing.B) {
	x := testCtx(b, sampleRequest)
	c := &Consumer{Name: "alice"}
	k := NewPrivateKey[*Consumer](&ChainBuilder{})
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		Set(x, k, c)
		if v, _ := Get(x, k); v != c {
			b.Fatal("lost")
		}
	}
}

// AppendEach passes each value, and only the values, through its hook;
// absent ones count as missing as in Append.
func TestTemplateAppendEach(t *testing.T) {
	x := testCtx(t, sampleRequest)
	tp, err := ParseTemplate("{{x}} {http_x_tenant}-{arg_none}-{arg_page}")
	if err != nil {
		t.Fatal(err)
	}
	bracket := func(_ *Ctx, dst []byte, start int) []byte {
		v := string(dst[start:])
		return append(append(append(dst[:start], '['), v...), ']')
	}
	got, missing := tp.AppendEach([]byte("pre:"), x, bracket)
	if string(got) != "pre:{x} [acme]-[]-[3]" || missing != 1 {
		t.Fatalf("got %q, %d missing; want %q, 1", got, missing, "pre:{x} [acme]-[]-[3]")
	}
}
