package engine_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/internal/freeport"
)

// restartable is an upstream that can be killed and brought back on the
// same address.
type restartable struct {
	addr string
	mu   sync.Mutex
	srv  *http.Server
	hits atomic.Int64
}

func (r *restartable) start(t *testing.T) {
	t.Helper()
	var l net.Listener
	var err error
	for i := 0; i < 100; i++ { // the old socket may linger a moment
		if l, err = net.Listen("tcp", r.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("restart %s: %v", r.addr, err)
	}
	r.addr = l.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.hits.Add(1)
		io.WriteString(w, "ok")
	})}
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
	go srv.Serve(l)
}

func (r *restartable) kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.srv.Close()
}

func targetState(g *gateway, addr string) string {
	for _, ts := range g.srv.Snapshot().Upstream("up").LB().Status().Targets {
		if ts.Addr == addr {
			return ts.State
		}
	}
	return "missing"
}

func TestKillOneOfThreeUnderLoad(t *testing.T) {
	ups := make([]*restartable, 3)
	for i := range ups {
		ups[i] = &restartable{addr: "127.0.0.1:0"}
		ups[i].start(t)
		defer ups[i].kill()
	}
	g := startGateway(t, fmt.Sprintf(`listen: {listen}
workers: 2
upstreams:
  - name: up
    targets: [ { addr: %s }, { addr: %s }, { addr: %s } ]
    health:
      passive: { max_fails: 1, fail_timeout: 1s }
      active: { type: tcp, interval: 200ms, timeout: 100ms, healthy: 1, unhealthy: 1 }
routes:
  - match: { paths: ["/*"] }
    upstream: up
`, ups[0].addr, ups[1].addr, ups[2].addr))

	load := startLoad("http://"+g.addr+"/", 6)
	time.Sleep(300 * time.Millisecond)
	victim := ups[1]
	victim.kill()
	killedAt := time.Now()
	for targetState(g, victim.addr) == "healthy" {
		if time.Since(killedAt) > 5*time.Second {
			t.Fatal("the dead target was never taken out")
		}
		time.Sleep(10 * time.Millisecond)
	}
	ejectedIn := time.Since(killedAt)
	time.Sleep(500 * time.Millisecond)
	hitsWhileDead := victim.hits.Load()
	victim.start(t)
	recoveredAt := time.Now()
	for targetState(g, victim.addr) != "healthy" {
		if time.Since(recoveredAt) > 10*time.Second {
			t.Fatalf("the target never came back: %s", targetState(g, victim.addr))
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	done, failed, firstErr := load.stop()
	t.Logf("%d requests, ejected in %v, back %v after restart", done, ejectedIn, time.Since(recoveredAt))
	if failed != 0 {
		t.Fatalf("%d of %d idempotent requests failed; first: %v", failed, done, firstErr)
	}
	if ejectedIn > time.Second {
		t.Fatalf("ejected after %v, want within 1s", ejectedIn)
	}
	if victim.hits.Load() == hitsWhileDead {
		t.Fatal("the recovered target got no traffic")
	}
}

func TestAllTargetsDownFailsFast(t *testing.T) {
	g := startGateway(t, fmt.Sprintf(`listen: {listen}
workers: 1
upstreams:
  - name: up
    targets: [ { addr: %s }, { addr: %s } ]
routes:
  - match: { paths: ["/*"] }
    upstream: up
`, freeport.Addr(t), freeport.Addr(t)))
	client := &http.Client{Timeout: 10 * time.Second}
	for i := 0; i < 10; i++ {
		start := time.Now()
		resp, err := client.Get("http://" + g.addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 502 && resp.StatusCode != 503 {
			t.Fatalf("request %d: %d", i, resp.StatusCode)
		}
		if el := time.Since(start); el > 5*time.Second {
			t.Fatalf("request %d took %v", i, el)
		}
	}
}
