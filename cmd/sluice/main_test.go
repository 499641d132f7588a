package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/internal/freeport"
)

var sluiceBin string

func TestMain(m *testing.M) {
	if addr := os.Getenv(upstreamProcessEnv); addr != "" {
		serveUpstreamProcess(addr) // the test binary as an upstream of its own (startUpstreamProcess)
		return
	}
	if spec := os.Getenv(churnClientEnv); spec != "" {
		runChurnClient(spec) // the test binary as the churn cell's client (startChurnClient)
		return
	}
	dir, err := os.MkdirTemp("", "sluice-bin")
	if err != nil {
		panic(err)
	}
	sluiceBin = filepath.Join(dir, "sluice")
	if bin := os.Getenv("SLUICE_TEST_BIN"); bin != "" {
		sluiceBin = bin // another build under the same tests: measurements compare two
	} else {
		build := exec.Command("go", "build", "-o", sluiceBin, ".")
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building sluice:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type upstream struct {
	addr string
	hits atomic.Int64
}

func startUpstream(t *testing.T, name string, delay time.Duration) *upstream {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{addr: l.Addr().String()}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		time.Sleep(delay)
		io.WriteString(w, name)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return u
}

// gatewayProcess is the sluice binary running with a config file.
type gatewayProcess struct {
	cmd    *exec.Cmd
	addr   string
	file   string
	stderr *lockedBuffer
	done   chan error
}

// lockedBuffer is the process's stderr, written by os/exec's copier and
// read by the test.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func writeConfig(t *testing.T, file, listen, target string) {
	cfg := fmt.Sprintf(`listen: %s
workers: 2
drain_timeout: 10s
upstreams:
  - name: up
    targets: [ { addr: %s } ]
routes:
  - match: { paths: ["/*"] }
    upstream: up
`, listen, target)
	// Whole, as an operator should: a reload never reads half of it.
	if err := os.WriteFile(file+".tmp", []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(file+".tmp", file); err != nil {
		t.Fatal(err)
	}
}

func startProcess(t *testing.T, args ...string) *gatewayProcess {
	p := &gatewayProcess{stderr: &lockedBuffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(sluiceBin, args...)
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("sluice stderr:\n%s", p.stderr.String())
		}
	})
	return p
}

func (p *gatewayProcess) waitReady(t *testing.T) {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", p.addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("gateway never listened on %s", p.addr)
}

func get(client *http.Client, url string) (string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return string(b), fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	return string(b), err
}

func TestSIGHUPUnderLoadDropsNothing(t *testing.T) {
	a := startUpstream(t, "a", 0)
	b := startUpstream(t, "b", 0)
	file := filepath.Join(t.TempDir(), "sluice.yaml")
	listen := freeport.Addr(t)
	writeConfig(t, file, listen, a.addr)
	p := startProcess(t, "-c", file)
	p.addr = listen
	p.waitReady(t)

	var failures atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 10 * time.Second}
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := get(client, "http://"+listen+"/"); err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	for i := 0; i < 10; i++ {
		target := a.addr
		if i%2 == 0 {
			target = b.addr
		}
		writeConfig(t, file, listen, target)
		p.cmd.Process.Signal(syscall.SIGHUP)
		time.Sleep(100 * time.Millisecond)
	}
	// A bad file is refused and the running config stays; so is an empty
	// one (a writer caught between truncating and writing: it failed this
	// test once, the gateway serving 404s until the next reload).
	os.WriteFile(file, []byte("listen: [not, an, address]\n"), 0o644)
	p.cmd.Process.Signal(syscall.SIGHUP)
	time.Sleep(200 * time.Millisecond)
	os.WriteFile(file, []byte("# nothing yet\n\n"), 0o644)
	p.cmd.Process.Signal(syscall.SIGHUP)
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d requests failed during reloads; first: %v", n, firstErr.Load())
	}
	if a.hits.Load() == 0 || b.hits.Load() == 0 {
		t.Fatalf("reloads did not switch upstreams: a=%d b=%d", a.hits.Load(), b.hits.Load())
	}
	if body, err := get(http.DefaultClient, "http://"+listen+"/"); err != nil || body != "a" {
		t.Fatalf("after the refused reload: %q %v (want the last good config, upstream a)", body, err)
	}
	if !strings.Contains(p.stderr.String(), "config refused, the running config stays") {
		t.Fatalf("bad reload not reported:\n%s", p.stderr.String())
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(p.stderr.String(), "the file is empty: refused"); {
		if time.Now().After(deadline) {
			t.Fatalf("the empty file's reload not refused:\n%s", p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if body, err := get(http.DefaultClient, "http://"+listen+"/"); err != nil || body != "a" {
		t.Fatalf("after the empty file: %q %v (want the last good config, upstream a)", body, err)
	}
}

func TestSIGTERMDrainsInFlightRequest(t *testing.T) {
	slow := startUpstream(t, "slow", 700*time.Millisecond)
	file := filepath.Join(t.TempDir(), "sluice.yaml")
	listen := freeport.Addr(t)
	writeConfig(t, file, listen, slow.addr)
	p := startProcess(t, "-c", file)
	p.addr = listen
	p.waitReady(t)

	result := make(chan error, 1)
	go func() {
		body, err := get(&http.Client{Timeout: 10 * time.Second}, "http://"+listen+"/")
		if err == nil && body != "slow" {
			err = fmt.Errorf("body %q", body)
		}
		result <- err
	}()
	for slow.hits.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-result; err != nil {
		t.Fatalf("in-flight request during drain: %v", err)
	}
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Fatalf("exit after drain: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("gateway did not exit after draining")
	}
}

func TestValidateReportsLineAndPath(t *testing.T) {
	file := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(file, []byte("upstreams:\n  - name: up\n    targets: [ { addr: 127.0.0.1:1 } ]\nroutes:\n  - upstream: users\n"), 0o644)
	out, err := exec.Command(sluiceBin, "validate", "-c", file).CombinedOutput()
	if err == nil {
		t.Fatalf("validate accepted a bad file:\n%s", out)
	}
	if !strings.Contains(string(out), `routes[0].upstream`) || !strings.Contains(string(out), `"users"`) {
		t.Fatalf("validate output lacks the path:\n%s", out)
	}
	good := filepath.Join(t.TempDir(), "good.yaml")
	writeConfig(t, good, "127.0.0.1:0", "127.0.0.1:1")
	if out, err := exec.Command(sluiceBin, "validate", "-c", good).CombinedOutput(); err != nil {
		t.Fatalf("validate refused a good file: %v\n%s", err, out)
	}
}

func TestProxyCommand(t *testing.T) {
	a := startUpstream(t, "proxied", 0)
	listen := freeport.Addr(t)
	p := startProcess(t, "proxy", "--listen", listen, "--to", a.addr, "--workers", "1")
	p.addr = listen
	p.waitReady(t)
	if body, err := get(http.DefaultClient, "http://"+listen+"/x"); err != nil || body != "proxied" {
		t.Fatalf("%q %v", body, err)
	}
}

func TestStatusListenerShowsUpstreams(t *testing.T) {
	a := startUpstream(t, "a", 0)
	listen, status := freeport.Addr(t), freeport.Addr(t)
	p := startProcess(t, "proxy", "--listen", listen, "--to", a.addr, "--status", status)
	p.addr = listen
	p.waitReady(t)
	if _, err := get(http.DefaultClient, "http://"+listen+"/"); err != nil {
		t.Fatal(err)
	}
	body, err := get(http.DefaultClient, "http://"+status+"/status/upstreams")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body, `"name": "backend"`) || !strings.Contains(body, a.addr) || !strings.Contains(body, `"state": "healthy"`) {
		t.Fatalf("/status/upstreams:\n%s", body)
	}
	body, err = get(http.DefaultClient, "http://"+status+"/status")
	if err != nil || !strings.Contains(body, `"upstream_dials": 1`) {
		t.Fatalf("/status: %v\n%s", err, body)
	}
}

func TestFailedRequestsAreLogged(t *testing.T) {
	listen := freeport.Addr(t)
	p := startProcess(t, "proxy", "--listen", listen, "--to", freeport.Addr(t))
	p.addr = listen
	p.waitReady(t)
	if _, err := get(http.DefaultClient, "http://"+listen+"/nothing-there"); err == nil {
		t.Fatal("a dead upstream answered")
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(p.stderr.String(), `failure="upstream connect refused"`) {
		if time.Now().After(deadline) {
			t.Fatalf("failure not logged:\n%s", p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestEveryExampleValidates(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	for _, f := range files {
		if out, err := exec.Command(sluiceBin, "validate", "-c", f).CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", f, err, out)
		}
	}
}
