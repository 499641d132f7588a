package engine_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// awayFromWindowEdge waits until a fixed window of length w has more than
// margin left, so a test's requests all fall in one window.
func awayFromWindowEdge(w, margin time.Duration) {
	for {
		left := w - time.Duration(time.Now().UnixNano()%int64(w))
		if left > margin {
			return
		}
		time.Sleep(left + 10*time.Millisecond)
	}
}

// limitCountYAML is a one-route gateway config with a limit-count policy.
func limitCountYAML(workers int, upstream, policyConfig string) string {
	return fmt.Sprintf(`listen: {listen}
workers: %d
shared_dicts: { limits: 1MiB }
upstreams: [ { name: up, targets: [ { addr: %s } ] } ]
routes:
  - match: { paths: ["/*"] }
    upstream: up
    policies:
      - name: limit-count
        config: %s
`, workers, upstream, policyConfig)
}

func TestLimitCountIsExactAcrossWorkers(t *testing.T) {
	up := startUpstream(t, echoHandler)
	g := startGateway(t, limitCountYAML(2, up.addr, `{ count: 50, window: 1h, key: "header:X-Api-Key" }`))
	awayFromWindowEdge(time.Hour, 30*time.Second)
	var ok, limited, other atomic.Int64
	var wg sync.WaitGroup
	for c := 0; c < 8; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{}}
			for i := 0; i < 25; i++ {
				req, _ := http.NewRequest("GET", "http://"+g.addr+"/x", nil)
				req.Header.Set("X-Api-Key", "tenant-a")
				resp, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case 200:
					ok.Add(1)
				case 429:
					limited.Add(1)
				default:
					other.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 50 || limited.Load() != 150 || other.Load() != 0 {
		t.Fatalf("passed %d, limited %d, other %d; want exactly 50 and 150", ok.Load(), limited.Load(), other.Load())
	}
	// Another key has its own counter.
	req, _ := http.NewRequest("GET", "http://"+g.addr+"/x", nil)
	req.Header.Set("X-Api-Key", "tenant-b")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-RateLimit-Remaining") != "49" || resp.Header.Get("X-RateLimit-Limit") != "50" {
		t.Fatalf("tenant-b: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestLimitCountAnswers429WithHeaders(t *testing.T) {
	up := startUpstream(t, echoHandler)
	g := startGateway(t, limitCountYAML(1, up.addr, `{ count: 2, window: 1h }`))
	awayFromWindowEdge(time.Hour, 30*time.Second)
	rc := dialRaw(t, g.addr)
	for i := 0; i < 2; i++ {
		rc.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		resp, _ := rc.response("GET")
		if resp.StatusCode != 200 || resp.Header.Get("X-RateLimit-Remaining") != strconv.Itoa(1-i) {
			t.Fatalf("request %d: %d remaining=%q", i, resp.StatusCode, resp.Header.Get("X-RateLimit-Remaining"))
		}
	}
	rc.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, body := rc.response("GET")
	if resp.StatusCode != 429 {
		t.Fatalf("third request: %d", resp.StatusCode)
	}
	reset, _ := strconv.Atoi(resp.Header.Get("X-RateLimit-Reset"))
	retry, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.Header.Get("X-RateLimit-Remaining") != "0" || reset <= 0 || reset > 3600 || retry != reset {
		t.Fatalf("429 headers: %v", resp.Header)
	}
	var e map[string]any
	if json.Unmarshal([]byte(body), &e) != nil || e["error"] != "rate limit exceeded" {
		t.Fatalf("429 body %q", body)
	}
}
