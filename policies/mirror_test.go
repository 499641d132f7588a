package policies_test

import (
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/internal/freeport"
)

// shadowRecorder is a shadow upstream that records what it receives.
type shadowRecorder struct {
	mu   sync.Mutex
	seen []string
	got  chan struct{}
}

func startShadow(t testing.TB, delay time.Duration, status int) (*shadowRecorder, string) {
	s := &shadowRecorder{got: make(chan struct{}, 10000)}
	addr := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if delay > 0 {
			time.Sleep(delay)
		}
		s.mu.Lock()
		s.seen = append(s.seen, r.Method+" "+r.URL.RequestURI()+" host="+r.Host+" x="+r.Header.Get("X-Trace")+" ua="+r.Header.Get("User-Agent")+" body="+string(b))
		s.mu.Unlock()
		w.WriteHeader(status)
		s.got <- struct{}{}
	})
	return s, addr
}

// wait waits for n copies, then a little for extra ones, and returns them.
func (s *shadowRecorder) wait(t *testing.T, n int) []string {
	t.Helper()
	for i := 0; i < n; i++ {
		select {
		case <-s.got:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d copies of %d arrived", i, n)
		}
	}
	time.Sleep(100 * time.Millisecond)
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

func mirrorGateway(t testing.TB, shadow, policyConfig string) *gateway {
	main := namedUpstream(t, "main")
	return startGateway(t, "", `listen: {listen}
workers: 1
upstreams:
  - { name: app, targets: [ { addr: "`+main+`" } ] }
  - { name: shadow, targets: [ { addr: "`+shadow+`" } ], retries: { tries: 1 } }
routes:
  - match: { paths: ["/*"] }
    upstream: app
    policies:
      - name: mirror
        config:
`+policyConfig)
}

func TestMirrorCopiesRequests(t *testing.T) {
	s, shadow := startShadow(t, 0, 200)
	g := mirrorGateway(t, shadow, `          upstream: shadow
`)
	resp, body := dial(t, g.addr).do("GET", "/a/b?c=1", "X-Trace: t1", "User-Agent: ua/1")
	if resp.StatusCode != 200 || body != "main" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	seen := s.wait(t, 1)
	if len(seen) != 1 || seen[0] != "GET /a/b?c=1 host=api.test x=t1 ua=ua/1 body=" {
		t.Fatalf("shadow saw %q", seen)
	}
}

func TestMirrorSelectedHeadersPathMethodAndBody(t *testing.T) {
	s, shadow := startShadow(t, 0, 200)
	g := mirrorGateway(t, shadow, `          upstream: shadow
          headers: [X-Trace]
          path: "/shadow{path}?from=gw"
          method: PUT
          body: true
          max_body: 16
`)
	cl := dial(t, g.addr)
	if resp, _ := cl.do("POST", "/items", "X-Trace: t2", "User-Agent: ua/2"); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	// A request with a body, written by hand.
	cl.c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(cl.c, "POST /items HTTP/1.1\r\nHost: api.test\r\nX-Trace: t3\r\nContent-Length: 5\r\n\r\nhello")
	r2, err := http.ReadResponse(cl.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := io.ReadAll(r2.Body)
	if r2.StatusCode != 200 || string(b2) != "main" {
		t.Fatalf("%d %s", r2.StatusCode, b2)
	}
	// Too large a body: the request goes on, not mirrored.
	io.WriteString(cl.c, "POST /big HTTP/1.1\r\nHost: api.test\r\nContent-Length: 20\r\n\r\n"+strings.Repeat("x", 20))
	r3, err := http.ReadResponse(cl.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(r3.Body)
	if r3.StatusCode != 200 {
		t.Fatalf("a body too large to copy failed the request: %d", r3.StatusCode)
	}
	seen := s.wait(t, 2)
	want := []string{
		"PUT /shadow/items?from=gw host=api.test x=t2 ua= body=",
		"PUT /shadow/items?from=gw host=api.test x=t3 ua= body=hello",
	}
	if strings.Join(seen, "\n") != strings.Join(want, "\n") {
		t.Fatalf("shadow saw\n%s\nwant\n%s", strings.Join(seen, "\n"), strings.Join(want, "\n"))
	}
}

func TestMirrorSampling(t *testing.T) {
	s, shadow := startShadow(t, 0, 200)
	g := mirrorGateway(t, shadow, `          upstream: shadow
          sample: 12.5
`)
	cl := dial(t, g.addr)
	for i := 0; i < 400; i++ {
		cl.do("GET", "/n/"+strconv.Itoa(i))
	}
	// One worker, a running sum: exactly one request in eight, evenly.
	seen := s.wait(t, 50)
	if len(seen) != 50 {
		t.Fatalf("%d copies of 400 requests at 12.5%%", len(seen))
	}
	for _, c := range seen {
		if n, err := copyNumber(c); err != nil || (n+1)%8 != 0 {
			t.Fatalf("copy %q is not every eighth request", c)
		}
	}
}

// copyNumber reads the request number of a copy "GET /n/N host=...".
func copyNumber(c string) (int, error) {
	rest := strings.TrimPrefix(c, "GET /n/")
	return strconv.Atoi(rest[:strings.IndexByte(rest, ' ')])
}

func TestMirrorNeverDelaysOrFailsTheRequest(t *testing.T) {
	s, shadow := startShadow(t, 2*time.Second, 500)
	g := mirrorGateway(t, shadow, `          upstream: shadow
`)
	cl := dial(t, g.addr)
	start := time.Now()
	for i := 0; i < 3; i++ {
		if resp, body := cl.do("GET", "/x"); resp.StatusCode != 200 || body != "main" {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	}
	// Waiting for the shadow would take 6s; the bound leaves room for a
	// loaded machine.
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("three requests took %v behind a 2s shadow", took)
	}
	s.wait(t, 3)

	// A dead shadow: requests still succeed.
	g2 := mirrorGateway(t, freeport.Addr(t), `          upstream: shadow
`)
	cl2 := dial(t, g2.addr)
	for i := 0; i < 5; i++ {
		if resp, body := cl2.do("GET", "/x"); resp.StatusCode != 200 || body != "main" {
			t.Fatalf("dead shadow: %d %s", resp.StatusCode, body)
		}
	}
}

func TestMirrorInFlightCapDropsCopies(t *testing.T) {
	s, shadow := startShadow(t, 0, 200)
	g := mirrorGateway(t, shadow, `          upstream: shadow
          max_in_flight: 2
          timeout: 400ms
`)
	cl := dial(t, g.addr)
	start := time.Now()
	for i := 0; i < 5; i++ {
		if resp, body := cl.do("GET", "/n/"+strconv.Itoa(i)); resp.StatusCode != 200 || body != "main" {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	}
	if time.Since(start) > 300*time.Millisecond {
		t.Skip("the machine is too slow for this timing test")
	}
	// Two places, each held for the copy's timeout: requests 0 and 1 are
	// copied, 2..4 dropped; after the timeout copies go again. When the
	// places free up depends on timers a loaded machine runs late: ask
	// until a copy goes (a drop is never copied later).
	time.Sleep(450 * time.Millisecond)
	deadline := time.Now().Add(10 * time.Second)
	sent := 5
	for i := 5; ; i++ {
		cl.do("GET", "/n/"+strconv.Itoa(i))
		sent++
		time.Sleep(50 * time.Millisecond)
		s.mu.Lock()
		n := len(s.seen)
		s.mu.Unlock()
		if n >= 3 || time.Now().After(deadline) {
			break
		}
	}
	seen := s.wait(t, 3)
	// Copies 0 and 1 go out together, on connections of their own: the
	// shadow may see either first.
	if len(seen) != 3 {
		t.Fatalf("shadow saw %q", seen)
	}
	first := []string{strings.Fields(seen[0])[1], strings.Fields(seen[1])[1]}
	sort.Strings(first)
	if first[0] != "/n/0" || first[1] != "/n/1" {
		t.Fatalf("shadow saw %q", seen)
	}
	if k, err := strconv.Atoi(strings.TrimPrefix(strings.Fields(seen[2])[1], "/n/")); err != nil || k < 5 {
		t.Fatalf("a dropped copy (2..4) reached the shadow: %q", seen)
	}
	// Every request was sampled (100 %): each is counted sent or dropped,
	// on /metrics (sluice_mirror_copies_total).
	copied := g.srv.PolicyCounterValue("sluice_mirror_copies_total", "route:routes[0]/mirror", "sent")
	dropped := g.srv.PolicyCounterValue("sluice_mirror_copies_total", "route:routes[0]/mirror", "dropped")
	if copied < uint64(len(seen)) || dropped < 3 || copied+dropped != uint64(sent) {
		t.Fatalf("counted %d sent and %d dropped of %d requests; the shadow saw %d copies", copied, dropped, sent, len(seen))
	}
}

// A sampled request whose body the policy does not copy is counted as
// skipped, apart from drops.
func TestMirrorCountsSkippedBodies(t *testing.T) {
	_, shadow := startShadow(t, 0, 200)
	g := mirrorGateway(t, shadow, `          upstream: shadow
`)
	for i := 0; i < 2; i++ {
		resp, err := http.Post("http://"+g.addr+"/x", "text/plain", strings.NewReader("payload"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "main" {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	}
	const id = "route:routes[0]/mirror"
	if n := g.srv.PolicyCounterValue("sluice_mirror_copies_total", id, "skipped"); n != 2 {
		t.Fatalf("skipped %d, want 2 (body: false)", n)
	}
	if n := g.srv.PolicyCounterValue("sluice_mirror_copies_total", id, "sent") + g.srv.PolicyCounterValue("sluice_mirror_copies_total", id, "dropped"); n != 0 {
		t.Fatalf("%d counted sent or dropped, want 0", n)
	}
}
