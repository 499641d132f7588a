package policies_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// batchGateway: /batch batches (with policyConfig), /slow/* proxies to a
// slow upstream, /limited/* is limited to one request per minute, /echo/*
// answers what it got.
func batchGateway(t testing.TB, policyConfig string) *gateway {
	slow := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(time.Second):
		case <-r.Context().Done():
			return
		}
		w.Write([]byte("slow " + r.URL.Path))
	})
	echo := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Echo", "1")
		w.Header().Add("X-Multi", "a")
		w.Header().Add("X-Multi", "b")
		w.WriteHeader(201)
		fmt.Fprintf(w, "%s %s auth=%s ct=%s body=%s", r.Method, r.URL.RequestURI(), r.Header.Get("Authorization"), r.Header.Get("Content-Type"), b)
	})
	return startGateway(t, "", `listen: {listen}
workers: 1
shared_dicts: { limits: 1MiB }
upstreams:
  - { name: slow, targets: [ { addr: "`+slow+`" } ] }
  - { name: echo, targets: [ { addr: "`+echo+`" } ] }
routes:
  - name: batch
    match: { paths: ["/batch"] }
    policies:
      - name: batch-requests
        config:
`+policyConfig+`
  - name: slow
    match: { paths: ["/slow/*"] }
    upstream: slow
  - name: limited
    match: { paths: ["/limited/*"] }
    upstream: echo
    policies:
      - name: limit-count
        config: { count: 1, window: 1m, key: route }
  - name: echo
    match: { paths: ["/echo/*"] }
    upstream: echo
`)
}

// postBatch sends body to /batch and returns the response.
func postBatch(t *testing.T, cl *client, body string, fields ...string) (*http.Response, string) {
	t.Helper()
	fields = append(fields, fmt.Sprintf("Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body))
	// do() ends the head itself: the last "field" carries the blank line
	// and the body, so its trailing CRLF pair must not be doubled.
	req := "POST /batch HTTP/1.1\r\nHost: api.test\r\n" + strings.Join(fields, "\r\n")
	cl.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(cl.c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(cl.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

type batchAnswer struct {
	Status  int            `json:"status"`
	Headers map[string]any `json:"headers"`
	Body    *string        `json:"body"`
	Error   string         `json:"error"`
}

func decodeBatch(t *testing.T, body string) []batchAnswer {
	t.Helper()
	var out []batchAnswer
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("not a JSON list: %v: %s", err, body)
	}
	return out
}

func TestBatchRunsItemsInParallelInOrder(t *testing.T) {
	g := batchGateway(t, "          max_requests: 5\n")
	cl := dial(t, g.addr)
	start := time.Now()
	resp, body := postBatch(t, cl, `[
		{"path": "/slow/1"},
		{"method": "post", "path": "/echo/2", "query": {"a": "b c"}, "headers": {"Authorization": "Bearer item"}, "body": {"k": 1}},
		{"path": "/slow/3"},
		{"path": "/nowhere"}
	]`, "Authorization: Bearer batch")
	took := time.Since(start)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	out := decodeBatch(t, body)
	if len(out) != 4 {
		t.Fatalf("%d results: %s", len(out), body)
	}
	if out[0].Status != 200 || *out[0].Body != "slow /slow/1" || *out[2].Body != "slow /slow/3" {
		t.Fatalf("slow items: %s", body)
	}
	if out[1].Status != 201 || *out[1].Body != `POST /echo/2?a=b+c auth=Bearer item ct=application/json body={"k": 1}` {
		t.Fatalf("echo item: %s", body)
	}
	if out[1].Headers["X-Echo"] != "1" || fmt.Sprint(out[1].Headers["X-Multi"]) != "[a b]" {
		t.Fatalf("echo headers: %v", out[1].Headers)
	}
	if out[3].Status != 404 {
		t.Fatalf("an item without a route: %+v", out[3])
	}
	if took > 1800*time.Millisecond { // in turn they take 2s
		t.Fatalf("two items of 1s took %v: not in parallel", took)
	}
}

func TestBatchItemsRunTheirRoutesPolicies(t *testing.T) {
	g := batchGateway(t, "")
	cl := dial(t, g.addr)
	// APISIX's form: common headers and the pipeline. The limited route
	// allows one request a minute: of two items, one is refused.
	_, body := postBatch(t, cl, `{"headers": {"Authorization": "Bearer common"}, "pipeline": [
		{"path": "/limited/a"}, {"path": "/limited/b"}, {"path": "/echo/c"}
	]}`)
	out := decodeBatch(t, body)
	statuses := []int{out[0].Status, out[1].Status}
	if !(statuses[0] == 201 && statuses[1] == 429 || statuses[0] == 429 && statuses[1] == 201) {
		t.Fatalf("limited items: %v: %s", statuses, body)
	}
	if !strings.Contains(*out[2].Body, "auth=Bearer common") {
		t.Fatalf("common headers: %s", *out[2].Body)
	}
	// A batch inside a batch is refused, item by item.
	_, body = postBatch(t, cl, `[{"method": "POST", "path": "/batch", "body": "[]"}]`)
	if out := decodeBatch(t, body); out[0].Status != 400 || !strings.Contains(*out[0].Body, "a batch item cannot be a batch") {
		t.Fatalf("nested batch: %s", body)
	}
}

func TestBatchToAConfiguredUpstream(t *testing.T) {
	g := batchGateway(t, "          upstream: echo\n")
	// No routing: /limited is not limited, it goes straight to echo.
	_, body := postBatch(t, dial(t, g.addr), `[{"path": "/limited/a"}, {"path": "/limited/b"}]`)
	out := decodeBatch(t, body)
	if out[0].Status != 201 || out[1].Status != 201 || !strings.HasPrefix(*out[1].Body, "GET /limited/b") {
		t.Fatalf("%s", body)
	}
}

func TestBatchItemTimeout(t *testing.T) {
	g := batchGateway(t, "")
	_, body := postBatch(t, dial(t, g.addr), `{"timeout": 50, "pipeline": [{"path": "/slow/1"}, {"path": "/echo/2"}]}`)
	out := decodeBatch(t, body)
	if out[0].Status != 504 || out[0].Error != "timed out" || out[1].Status != 201 {
		t.Fatalf("%s", body)
	}
}

func TestBatchRefusesBadInput(t *testing.T) {
	g := batchGateway(t, "          max_requests: 3\n          max_body: 512\n")
	cl := dial(t, g.addr)
	for _, tc := range []struct{ name, body, want string }{
		{"not JSON", `hello`, `not JSON: the body must be a list of requests`},
		{"empty", ``, `the body is empty`},
		{"broken JSON", `[{"path": "/a"`, `not a JSON list of requests`},
		{"unknown field", `[{"path": "/a", "pth": 1}]`, `unknown field \"pth\"`},
		{"not a list", `{"requests": []}`, `unknown field \"requests\"`},
		{"no pipeline", `{"headers": {}}`, `the object has no \"pipeline\" list`},
		{"empty list", `[]`, `the list of requests is empty`},
		{"too many", `[{"path":"/a"},{"path":"/b"},{"path":"/c"},{"path":"/d"}]`, `4 requests, at most 3 in one batch`},
		{"every problem listed", `[{"path": "a"}, {"method": "G T", "path": "/x y"}, {"path": "/ok", "headers": {"Content-Length": "1"}}]`,
			`[0].path: must start with '/' and have no spaces or control bytes, got \"a\"; [1].method: not a method: \"G T\"; [1].path: must start with '/' and have no spaces or control bytes, got \"/x y\"; [2].headers.Content-Length: Content-Length is framing`},
		{"trailing data", `[{"path": "/a"}] x`, `data after the JSON value`},
	} {
		resp, body := postBatch(t, cl, tc.body)
		if resp.StatusCode != 400 || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s\nwant 400 with %s", tc.name, resp.StatusCode, body, tc.want)
		}
	}
	resp, body := postBatch(t, cl, `[{"path": "/a", "body": "`+strings.Repeat("x", 600)+`"}]`)
	if resp.StatusCode != 413 {
		t.Errorf("a body over max_body: %d %s", resp.StatusCode, body)
	}
	cl = dial(t, g.addr)
	if resp, _ := cl.do("GET", "/batch"); resp.StatusCode != 405 || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET: %d %v", resp.StatusCode, resp.Header)
	}
}
