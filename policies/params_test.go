package policies_test

import (
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/engine/enginetest"
	"github.com/sluice-gw/sluice/policies"
)

// paramsEcho answers with what the backend received: the target, the
// headers the tests look at and the body.
type paramsEchoed struct {
	Target string            `json:"target"`
	Header map[string]string `json:"header"`
	Body   string            `json:"body"`
	CT     string            `json:"ct"`
}

func paramsEchoUpstream() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h := map[string]string{}
		for k, v := range r.Header {
			h[k] = strings.Join(v, ",")
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(paramsEchoed{Target: r.URL.RequestURI(), Header: h, Body: string(b), CT: r.Header.Get("Content-Type")})
	})
}

func paramsGateway(t testing.TB, cfg string) *enginetest.Gateway {
	t.Helper()
	yml := `upstreams: [ { name: up, targets: [ { addr: "127.0.0.1:9" } ] } ]
routes:
  - name: api
    match: { paths: ["/*"] }
    upstream: up
    policies:
      - name: params
        config:
` + cfg
	return enginetest.New(t, yml, policies.Build, paramsEchoUpstream())
}

// paramsDo sends a request with an optional body and content type.
func paramsDo(t *testing.T, g *enginetest.Gateway, method, target, ctype, body string, fields ...string) (*http.Response, paramsEchoed, string) {
	t.Helper()
	req := method + " " + target + " HTTP/1.1\r\nHost: a\r\n"
	for _, f := range fields {
		req += f + "\r\n"
	}
	if ctype != "" {
		req += "Content-Type: " + ctype + "\r\n"
	}
	if body != "" || method == "POST" {
		req += "Content-Length: " + itoaT(len(body)) + "\r\n"
	}
	req += "\r\n" + body
	resp := g.Do(req)
	b, _ := io.ReadAll(resp.Body)
	var e paramsEchoed
	if resp.StatusCode == 200 {
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatalf("echo body %q: %v", b, err)
		}
	}
	return resp, e, string(b)
}

func itoaT(n int) string {
	b := []byte{}
	if n == 0 {
		return "0"
	}
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

// refusalParams decodes a 400 body into "name/in: error" lines, sorted.
func refusalParams(t *testing.T, body string) []string {
	t.Helper()
	var r struct {
		Status int    `json:"status"`
		Error  string `json:"error"`
		ID     string `json:"request_id"`
		Params []struct{ Name, In, Error string }
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("refusal %q: %v", body, err)
	}
	if r.Status != 400 || r.ID == "" {
		t.Fatalf("refusal %q: want status 400 and a request id", body)
	}
	var out []string
	for _, p := range r.Params {
		out = append(out, p.Name+"/"+p.In+": "+p.Error)
	}
	sort.Strings(out)
	return out
}

func TestParamsSeedRule(t *testing.T) {
	g := paramsGateway(t, `          params:
            - { name: name, required: true }
            - { name: age, type: number, integer: true }
`)
	resp, e, body := paramsDo(t, g, "GET", "/u?name=bob&age=30&type=admin", "", "")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if e.Target != "/u?name=bob&age=30" {
		t.Fatalf("backend got %q, want the undeclared type removed", e.Target)
	}
}

// TestParamsConstraints runs one parameter per case through accepting and
// refusing values: every constraint, every type.
func TestParamsConstraints(t *testing.T) {
	for _, tc := range []struct {
		name, decl string
		ok, bad    []string // query values (raw)
		msg        string   // part of the refusal's error
	}{
		{"min_length", `{ name: v, min_length: 2 }`, []string{"ab", "%C3%A9%C3%A9"}, []string{"a", "%C3%A9"}, "at least 2 characters"},
		{"max_length", `{ name: v, max_length: 3 }`, []string{"abc", "", "%C3%A9%C3%A9%C3%A9"}, []string{"abcd"}, "at most 3 characters"},
		{"pattern", `{ name: v, pattern: "^[a-z]+$" }`, []string{"abc"}, []string{"ab1", ""}, "must match"},
		{"enum", `{ name: v, enum: [red, blue] }`, []string{"red", "blue"}, []string{"green", "Red"}, "one of red, blue"},
		{"number", `{ name: v, type: number }`, []string{"1", "-2.5", "1e3", "0"}, []string{"x", "1.", "Inf", "0x10", "01", "+1", ""}, "must be a number"},
		{"number beyond float64", `{ name: v, type: number }`, []string{"1e308", "-1.7e308", "1e-400"}, []string{"1e309", "-2e308"}, "within a 64-bit float's range"},
		{"min", `{ name: v, type: number, min: 1 }`, []string{"1", "7"}, []string{"0.5", "-1"}, "at least 1"},
		{"max", `{ name: v, type: number, max: 120 }`, []string{"120"}, []string{"121"}, "at most 120"},
		{"integer", `{ name: v, type: number, integer: true }`, []string{"3", "3.0"}, []string{"3.5"}, "integer"},
		{"number enum", `{ name: v, type: number, enum: ["1", "2.5"] }`, []string{"1", "2.50"}, []string{"3"}, "one of"},
		{"boolean", `{ name: v, type: boolean }`, []string{"true", "false"}, []string{"1", "yes", "True"}, "true or false"},
		{"object", `{ name: v, type: object }`, []string{"%7B%7D", "%7B%22a%22%3A1%7D"}, []string{"%5B%5D", "x", "%7B"}, "JSON object"},
		{"list", `{ name: v, type: list }`, []string{"%5B%5D", "%5B1%2C2%5D"}, []string{"%7B%7D", "%5B1%2C%5D"}, "JSON array"},
		{"min_items", `{ name: v, type: list, min_items: 2 }`, []string{"%5B1%2C2%5D"}, []string{"%5B1%5D", "%5B%5D"}, "at least 2 items"},
		{"max_items", `{ name: v, type: list, max_items: 1 }`, []string{"%5B%5B1%2C2%5D%5D"}, []string{"%5B1%2C2%5D"}, "at most 1 items"},
		{"bad escape", `{ name: v }`, []string{"a%20b"}, []string{"%zz", "%4"}, "percent-encoding"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := paramsGateway(t, "          params: [ "+tc.decl+" ]\n")
			for _, v := range tc.ok {
				if resp, _, body := paramsDo(t, g, "GET", "/c?v="+v, "", ""); resp.StatusCode != 200 {
					t.Errorf("v=%s refused: %s", v, body)
				}
			}
			for _, v := range tc.bad {
				resp, _, body := paramsDo(t, g, "GET", "/c?v="+v, "", "")
				if resp.StatusCode != 400 {
					t.Errorf("v=%s accepted (%d)", v, resp.StatusCode)
					continue
				}
				got := refusalParams(t, body)
				if len(got) != 1 || !strings.HasPrefix(got[0], "v/query: ") || !strings.Contains(got[0], tc.msg) {
					t.Errorf("v=%s: refusal %q, want one for v with %q", v, got, tc.msg)
				}
			}
		})
	}
}

func TestParamsRefusalListsEveryFailure(t *testing.T) {
	g := paramsGateway(t, `          params:
            - { name: id, type: number, required: true }
            - { name: q, max_length: 2 }
            - { name: X-Tenant, in: header, required: true }
            - { name: tags, in: body, type: list, max_items: 1 }
            - { name: n, in: body, type: number }
`)
	resp, _, body := paramsDo(t, g, "POST", "/r?q=abc", "application/json", `{"tags":[1,2],"n":"7"}`)
	if resp.StatusCode != 400 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %v: %s", resp.StatusCode, resp.Header, body)
	}
	got := refusalParams(t, body)
	want := []string{
		"X-Tenant/header: is required",
		"id/query: is required",
		"n/body: must be a number",
		"q/query: must be at most 2 characters long",
		"tags/body: must have at most 1 items",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("refusal lists\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestParamsUndeclaredRemoved(t *testing.T) {
	g := paramsGateway(t, `          params:
            - { name: name }
            - { name: age, type: number }
            - { name: b, in: body }
            - { name: o, in: body, type: object }
            - { name: f, in: body, type: file, content_types: ["text/*"], max_size: 10 }
`)
	for _, tc := range []struct{ name, target, ctype, body, wantTarget, wantBody string }{
		{"query", "/u?name=x&age=1&type=admin", "", "", "/u?name=x&age=1", ""},
		{"query only undeclared", "/u?type=admin", "", "", "/u", ""},
		{"query untouched", "/u?name=a%20b&age=2", "", "", "/u?name=a%20b&age=2", ""},
		{"form", "/u", "application/x-www-form-urlencoded", "b=1&type=admin&b=2", "/u", "b=1"},
		{"json", "/u", "application/json", `{"b":"x","type":"admin","o":{"k":[1]}}`, "/u", `{"b":"x","o":{"k":[1]}}`},
		{"json escaped key", "/u", "application/json", `{"\u0062":"x","t":1}`, "/u", `{"\u0062":"x"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, e, body := paramsDo(t, g, "POST", tc.target, tc.ctype, tc.body)
			if resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			if e.Target != tc.wantTarget || e.Body != tc.wantBody {
				t.Fatalf("backend got %q %q, want %q %q", e.Target, e.Body, tc.wantTarget, tc.wantBody)
			}
		})
	}
	t.Run("multipart", func(t *testing.T) {
		mp := "--XX\r\nContent-Disposition: form-data; name=\"b\"\r\n\r\nbee\r\n" +
			"--XX\r\nContent-Disposition: form-data; name=\"junk\"\r\n\r\nj\r\n" +
			"--XX\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--XX--\r\n"
		resp, e, body := paramsDo(t, g, "POST", "/u", "multipart/form-data; boundary=XX", mp)
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		if strings.Contains(e.Body, "junk") || !strings.Contains(e.Body, "bee") || !strings.Contains(e.Body, "hello") || !strings.Contains(e.CT, "multipart/form-data; boundary=") {
			t.Fatalf("backend got %q (%s)", e.Body, e.CT)
		}
		bad := strings.Replace(mp, "text/plain", "image/png", 1)
		resp, _, body = paramsDo(t, g, "POST", "/u", "multipart/form-data; boundary=XX", bad)
		if got := refusalParams(t, body); resp.StatusCode != 400 || len(got) != 1 || !strings.Contains(got[0], "content type") {
			t.Fatalf("png refused? %d %q", resp.StatusCode, got)
		}
		big := strings.Replace(mp, "hello", "hello world!", 1)
		resp, _, body = paramsDo(t, g, "POST", "/u", "multipart/form-data; boundary=XX", big)
		if got := refusalParams(t, body); resp.StatusCode != 400 || len(got) != 1 || !strings.Contains(got[0], "at most 10 bytes") {
			t.Fatalf("big file refused? %d %q", resp.StatusCode, got)
		}
		resp, _, body = paramsDo(t, g, "POST", "/u", "application/json", `{"f":"x"}`)
		if got := refusalParams(t, body); resp.StatusCode != 400 || !strings.Contains(got[0], "must be a file") {
			t.Fatalf("json file refused? %d %q", resp.StatusCode, got)
		}
	})
}

func TestParamsUndeclaredRejectAndKeep(t *testing.T) {
	g := paramsGateway(t, "          undeclared: reject\n          params: [ { name: a } ]\n")
	resp, _, body := paramsDo(t, g, "GET", "/u?a=1&zz=2", "", "")
	if got := refusalParams(t, body); resp.StatusCode != 400 || len(got) != 1 || got[0] != "zz/query: is not a declared parameter" {
		t.Fatalf("%d %q", resp.StatusCode, got)
	}
	g = paramsGateway(t, "          undeclared: keep\n          params: [ { name: a, default: x } ]\n")
	_, e, _ := paramsDo(t, g, "GET", "/u?zz=2", "", "")
	if e.Target != "/u?zz=2&a=x" {
		t.Fatalf("keep: backend got %q", e.Target)
	}
}

func TestParamsDefaultsConstantsAndMoves(t *testing.T) {
	g := paramsGateway(t, `          params:
            - { name: page, type: number, default: "1" }
            - { name: v, constant: "2" }
            - { name: uid, forward_as: user_id }
            - { name: token, forward_in: header, forward_as: X-Token }
            - { name: X-Lang, in: header, forward_in: query, forward_as: lang }
            - { name: sort, in: body, forward_in: query }
            - { name: meta, in: body, type: object, forward_as: m }
            - { name: tag, forward_in: body }
`)
	resp, e, body := paramsDo(t, g, "POST", "/m?uid=7&token=s3&v=9&tag=t1", "application/json", `{"sort":"asc","meta":{"a":1}}`, "X-Lang: fr")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if e.Target != "/m?page=1&v=2&user_id=7&lang=fr&sort=asc" {
		t.Errorf("target %q", e.Target)
	}
	if e.Header["X-Token"] != "s3" || e.Header["X-Lang"] != "" {
		t.Errorf("headers %v", e.Header)
	}
	if e.Body != `{"m":{"a":1},"tag":"t1"}` {
		t.Errorf("body %q", e.Body)
	}
	// No body at all: a moved parameter makes a form body.
	_, e, _ = paramsDo(t, g, "GET", "/m?tag=t2", "", "")
	if e.Body != "tag=t2" || e.CT != "application/x-www-form-urlencoded" {
		t.Errorf("body %q %q", e.Body, e.CT)
	}
}

func TestParamsMethods(t *testing.T) {
	g := paramsGateway(t, "          methods: [GET]\n")
	resp, _, _ := paramsDo(t, g, "POST", "/x", "", "")
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET" {
		t.Fatalf("%d %v", resp.StatusCode, resp.Header)
	}
	if resp, e, _ := paramsDo(t, g, "GET", "/x?any=1", "", ""); resp.StatusCode != 200 || e.Target != "/x?any=1" {
		t.Fatalf("GET: %d %q (a route declaring only methods keeps its parameters)", resp.StatusCode, e.Target)
	}
}

func TestParamsBounds(t *testing.T) {
	g := paramsGateway(t, "          max_params: 2\n          max_depth: 2\n          max_body: 64\n          params: [ { name: a, in: body, type: object } ]\n")
	resp, _, body := paramsDo(t, g, "GET", "/x?a=1&b=2&c=3", "", "")
	if got := refusalParams(t, body); resp.StatusCode != 400 || !strings.Contains(strings.Join(got, ""), "more than 2 parameters") {
		t.Fatalf("%d %q", resp.StatusCode, got)
	}
	resp, _, body = paramsDo(t, g, "POST", "/x", "application/json", `{"a":{"b":{"c":1}}}`)
	if got := refusalParams(t, body); resp.StatusCode != 400 || !strings.Contains(strings.Join(got, ""), "nesting at most 2") {
		t.Fatalf("%d %q", resp.StatusCode, got)
	}
	resp, _, _ = paramsDo(t, g, "POST", "/x", "application/json", `{"a":{"b":"`+strings.Repeat("x", 100)+`"}}`)
	if resp.StatusCode != 413 {
		t.Fatalf("a long body: %d", resp.StatusCode)
	}
}

func TestParamsVariable(t *testing.T) {
	g := enginetest.New(t, `upstreams: [ { name: up, targets: [ { addr: "127.0.0.1:9" } ] } ]
routes:
  - name: api
    match: { paths: ["/*"] }
    upstream: up
    policies:
      - name: params
        config: { params: [ { name: id, type: number }, { name: k, in: body } ] }
      - name: response-rewrite
        config: { body: "{param_id}/{param_k}/{param_none}" }
`, policies.Build, paramsEchoUpstream())
	resp := g.Do("POST /v?id=42 HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{\"k\":\"v\"}\n")
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "42/v/" {
		t.Fatalf("param_ variables gave %q", b)
	}
}

func TestParamsConfigErrors(t *testing.T) {
	for _, tc := range []struct{ cfg, want string }{
		{`{}`, "declares nothing"},
		{`{ params: [ { name: "" } ] }`, "needs a name"},
		{`{ params: [ { name: a, type: int } ] }`, "must be string, number"},
		{`{ params: [ { name: a, in: cookie } ] }`, "must be query, header or body"},
		{`{ params: [ { name: a, min: 1 } ] }`, "are for numbers"},
		{`{ params: [ { name: a, type: number, max_length: 1 } ] }`, "are for strings"},
		{`{ params: [ { name: a, pattern: "(" } ] }`, "missing closing"},
		{`{ params: [ { name: a, type: number, default: "x" } ] }`, "the default must be a number"},
		{`{ params: [ { name: a, type: number, enum: ["1", "1e999"] } ] }`, `enum[1]: beyond a 64-bit float's range (±1.8e308): "1e999"`},
		{`{ params: [ { name: a, constant: "abc", max_length: 1 } ] }`, "the constant must be at most"},
		{`{ params: [ { name: a, type: file } ] }`, "multipart body"},
		{`{ params: [ { name: a }, { name: a } ] }`, "declared twice"},
		{`{ params: [ { name: a, forward_in: header, forward_as: Host } ] }`, "host setting"},
		{`{ params: [ { name: a, type: list, min_items: 2, max_items: 1 } ] }`, ">= min_items"},
		{`{ undeclared: drop, params: [ { name: a } ] }`, "remove, keep or reject"},
		// Regression: an entry was taken as it was: "" and a word without a
		// slash matched no file, silently.
		{`{ params: [ { name: f, in: body, type: file, content_types: ["image/png", ""] } ] }`, `config.params[0].content_types[1]: must be type/subtype (application/json), type/* (image/*), a structured suffix (+json) or * for any, without parameters; got ""`},
		{`{ params: [ { name: f, in: body, type: file, content_types: [png] } ] }`, `config.params[0].content_types[0]: must be type/subtype`},
		{`{ params: [ { name: f, in: body, type: file, content_types: ["text/plain; charset=utf-8"] } ] }`, `config.params[0].content_types[0]: must be type/subtype`},
		{`{ params: [ { name: f, in: body, type: file, content_types: ["+"] } ] }`, `config.params[0].content_types[0]: a structured suffix is + and a name`},
		// Negative bounds were quietly the defaults.
		{`{ max_params: -1, params: [ { name: a } ] }`, "config.max_params: must be >= 0 (0: the default, 100), got -1"},
		{`{ max_depth: -5, params: [ { name: a } ] }`, "config.max_depth: must be >= 0 (0: the default, 32), got -5"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			err := cacheCompileErr(`upstreams: [ { name: up, targets: [ { addr: "127.0.0.1:9" } ] } ]
routes:
  - match: { paths: ["/*"] }
    upstream: up
    policies: [ { name: params, config: ` + tc.cfg + ` } ]
`)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}

// The docs' seed example (docs/policies.md, params): what the backend gets.
func TestParamsSeedExampleForwarding(t *testing.T) {
	g := paramsGateway(t, `          methods: [GET, POST]
          params:
            - { name: name, required: true, max_length: 64 }
            - { name: age, type: number, integer: true, min: 0, max: 150 }
            - { name: X-Tenant, in: header, required: true, forward_in: query, forward_as: tenant }
            - { name: page, type: number, default: "1" }
            - { name: v, constant: "2" }
`)
	resp, e, body := paramsDo(t, g, "GET", "/user/info?name=bo&age=7&type=x", "", "", "X-Tenant: acme")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if e.Target != "/user/info?name=bo&age=7&tenant=acme&page=1&v=2" || e.Header["X-Tenant"] != "" {
		t.Fatalf("backend got %q, X-Tenant %q", e.Target, e.Header["X-Tenant"])
	}
	resp, _, body = paramsDo(t, g, "GET", "/user/info?age=700", "", "")
	want := []string{"X-Tenant/header: is required", "age/query: must be at most 150", "name/query: is required"}
	if got := refusalParams(t, body); resp.StatusCode != 400 || strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("%d %q", resp.StatusCode, got)
	}
	if resp, _, _ := paramsDo(t, g, "DELETE", "/user/info", "", ""); resp.StatusCode != 405 {
		t.Fatalf("DELETE: %d", resp.StatusCode)
	}
}
