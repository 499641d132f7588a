package policies_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/internal/freeport"
)

var (
	uuid4Text = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	uuid7Text = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
)

// idUpstream answers with the X-Request-Id fields it received.
func idUpstream(t testing.TB) string {
	return startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Join(r.Header.Values("X-Request-Id"), "|")))
	})
}

func TestRequestIDGeneratedSentUpstreamEchoedLogged(t *testing.T) {
	g := startGateway(t, idUpstream(t), routeYAML(`      - name: request-id
`))
	cl := dial(t, g.addr)
	seen := map[string]bool{}
	for i := 0; i < 50; i++ {
		r, upstreamSaw := cl.do("GET", "/x")
		id := r.Header.Get("X-Request-Id")
		if !uuid4Text.MatchString(id) || upstreamSaw != id {
			t.Fatalf("request %d: echoed %q, upstream saw %q", i, id, upstreamSaw)
		}
		if logged := g.lastLoggedID(t); logged != id {
			t.Fatalf("logged %q, echoed %q", logged, id)
		}
		if seen[id] {
			t.Fatalf("id %s given twice", id)
		}
		seen[id] = true
	}
}

func TestRequestIDUUID7IsTimeOrdered(t *testing.T) {
	g := startGateway(t, idUpstream(t), routeYAML(`      - name: request-id
        config: { format: uuid7, header: X-Trace }
`))
	cl := dial(t, g.addr)
	r1, _ := cl.do("GET", "/x")
	time.Sleep(3 * time.Millisecond)
	r2, _ := cl.do("GET", "/x")
	a, b := r1.Header.Get("X-Trace"), r2.Header.Get("X-Trace")
	if !uuid7Text.MatchString(a) || !uuid7Text.MatchString(b) || a[:13] >= b[:13] {
		t.Fatalf("uuid7 ids %q then %q", a, b)
	}
	ms := time.Now().UnixMilli()
	var got int64
	for _, c := range strings.ReplaceAll(b[:13], "-", "") {
		got = got<<4 | int64(strings.IndexRune("0123456789abcdef", c))
	}
	if d := ms - got; d < 0 || d > 5000 {
		t.Fatalf("uuid7 time %d is %d ms from now", got, d)
	}
}

// A client's id is replaced unless trust_incoming, and then only when it
// is well formed: the attack table.
func TestRequestIDIncoming(t *testing.T) {
	untrusting := startGateway(t, idUpstream(t), routeYAML(`      - name: request-id
`))
	r, upstreamSaw := dial(t, untrusting.addr).do("GET", "/x", "X-Request-Id: client-chosen", "X-Request-Id: second")
	if id := r.Header.Get("X-Request-Id"); !uuid4Text.MatchString(id) || upstreamSaw != id {
		t.Fatalf("untrusted: echoed %q, upstream saw %q", id, upstreamSaw)
	}

	g := startGateway(t, idUpstream(t), routeYAML(`      - name: request-id
        config: { trust_incoming: true }
`))
	cl := dial(t, g.addr)
	for _, good := range []string{"abc-123", "01ARZ3NDEKTSV4RRFFQ69G5FAV", "4bf92f3577b34da6a3ce929d0e0e4736:00f0", "a.b_c:d-e", strings.Repeat("x", 40)} {
		r, upstreamSaw := cl.do("GET", "/x", "X-Request-Id: "+good)
		if logged := g.lastLoggedID(t); r.Header.Get("X-Request-Id") != good || upstreamSaw != good || logged != good {
			t.Errorf("trusted %q: echoed %q, upstream saw %q, logged %q", good, r.Header.Get("X-Request-Id"), upstreamSaw, logged)
		}
	}
	for _, bad := range []string{
		strings.Repeat("x", 41),  // too long
		"abc def",                // space
		`a"b`,                    // would break a JSON error body
		`a\b`,                    // likewise
		"a,b",                    // a list
		"<script>",               // markup in logs and pages
		"ab%0d%0aSet-Cookie:x=1", // an encoded CRLF: refused by charset
		"café",                   // not ASCII
		"a\tb",                   // a tab inside a field value is legal HTTP
	} {
		r, upstreamSaw := cl.do("GET", "/x", "X-Request-Id: "+bad)
		id := r.Header.Get("X-Request-Id")
		if logged := g.lastLoggedID(t); !uuid4Text.MatchString(id) || upstreamSaw != id || logged != id {
			t.Errorf("bad id %q: echoed %q, upstream saw %q, logged %q", bad, id, upstreamSaw, logged)
		}
	}
	// An empty field: a new id too.
	r, _ = cl.do("GET", "/x", "X-Request-Id:")
	if !uuid4Text.MatchString(r.Header.Get("X-Request-Id")) {
		t.Errorf("empty id: echoed %q", r.Header.Get("X-Request-Id"))
	}
	g.lastLoggedID(t)
}

// A raw CR or LF in the id cannot even reach the policy: the request is
// refused by the parser (400), and nothing is injected into the response.
func TestRequestIDHeaderInjection(t *testing.T) {
	g := startGateway(t, idUpstream(t), routeYAML(`      - name: request-id
        config: { trust_incoming: true }
`))
	cl := dial(t, g.addr)
	r, _ := cl.do("GET", "/x", "X-Request-Id: a\rSet-Cookie: pwned=1")
	if r.Header.Get("Set-Cookie") != "" || r.StatusCode != 400 {
		t.Fatalf("CR in id: %d %v", r.StatusCode, r.Header)
	}
}

// The id is the one of the gateway's error bodies, and is echoed on them.
func TestRequestIDInErrorBodies(t *testing.T) {
	g := startGateway(t, freeport.Addr(t), routeYAML(`      - name: request-id
        config: { trust_incoming: true }
`))
	r, body := dial(t, g.addr).do("GET", "/x", "X-Request-Id: trace-42")
	var e struct {
		Status    int    `json:"status"`
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || r.StatusCode != 502 || e.RequestID != "trace-42" || r.Header.Get("X-Request-Id") != "trace-42" {
		t.Fatalf("502: %d %q %v (%v)", r.StatusCode, body, r.Header, err)
	}
}

// Ids stay unique under concurrent clients on several workers.
func TestRequestIDUniqueAcrossWorkers(t *testing.T) {
	yml := strings.Replace(routeYAML(`      - name: request-id
`), "workers: 1", "workers: 2", 1)
	g := startGateway(t, idUpstream(t), yml)
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for c := 0; c < 4; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := dial(t, g.addr)
			for i := 0; i < 100; i++ {
				r, _ := cl.do("GET", "/x")
				id := r.Header.Get("X-Request-Id")
				mu.Lock()
				if seen[id] || !uuid4Text.MatchString(id) {
					t.Errorf("id %q repeated or malformed", id)
				}
				seen[id] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}
