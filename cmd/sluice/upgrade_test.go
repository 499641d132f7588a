package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/internal/freeport"
)

// startLogged runs the binary with its stderr in a file: a process it
// starts (an upgrade) inherits that file, and nothing ties the two
// processes' lives together as a pipe to the test would.
func startLogged(t *testing.T, args ...string) (*exec.Cmd, chan error, func() string) {
	t.Helper()
	logFile := filepath.Join(t.TempDir(), "sluice.log")
	f, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sluiceBin, args...)
	cmd.Stderr = f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	readLog := func() string {
		b, _ := os.ReadFile(logFile)
		return string(b)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		if t.Failed() {
			t.Logf("sluice log:\n%s", readLog())
		}
	})
	return cmd, done, readLog
}

// Bug 1: "listening on" was logged before the bind, and a bind failure
// came as "engine stopped: ..." after it.
func TestBindFailureIsOneClearLine(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := l.Addr().String()
	out, err := exec.Command(sluiceBin, "proxy", "--listen", addr, "--to", "127.0.0.1:1").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "cannot listen on "+addr+": bind: address already in use") {
		t.Fatalf("want one line naming the address and the reason, got:\n%s", out)
	}
}

// keepAliveLoad is a wrk-like client: requests on one connection until the
// gateway says Connection: close, then a new connection; no retries, every
// error counts. With closeEach it opens a connection per request.
type keepAliveLoad struct {
	ok, failed atomic.Int64
	firstErr   atomic.Value
}

func (l *keepAliveLoad) run(addr string, closeEach bool, stop <-chan struct{}, maxRequests int) {
	var c net.Conn
	var br *bufio.Reader
	fail := func(err error) {
		l.failed.Add(1)
		l.firstErr.CompareAndSwap(nil, err.Error())
		if c != nil {
			c.Close()
			c = nil
		}
	}
	req := "GET /load HTTP/1.1\r\nHost: a\r\n\r\n"
	if closeEach {
		req = "GET /load HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
	}
	for i := 0; i < maxRequests; i++ {
		select {
		case <-stop:
			if c != nil {
				c.Close()
			}
			return
		default:
		}
		if c == nil {
			var err error
			if c, err = net.DialTimeout("tcp", addr, 5*time.Second); err != nil {
				fail(err)
				continue
			}
			br = bufio.NewReader(c)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, req); err != nil {
			fail(err)
			continue
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			fail(err)
			continue
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 || string(body) != "a" {
			fail(fmt.Errorf("status %d body %q err %v", resp.StatusCode, body, err))
			continue
		}
		l.ok.Add(1)
		if resp.Close {
			c.Close()
			c = nil
		}
	}
	if c != nil {
		c.Close()
	}
}

// Zero-downtime upgrade: under load, SIGUSR2 starts a new process on the
// same socket; the old one drains and exits; no request fails.
func TestUpgradeUnderLoadDropsNothing(t *testing.T) {
	a := startUpstream(t, "a", time.Millisecond)
	file := filepath.Join(t.TempDir(), "sluice.yaml")
	listen, adminAddr := freeport.Addr(t), freeport.Addr(t)
	writeConfig(t, file, listen, a.addr)
	// With an admin listener: it is handed over too.
	old, oldDone, readLog := startLogged(t, "-c", file, "-status", adminAddr)
	p := &gatewayProcess{addr: listen}
	p.waitReady(t)

	var load keepAliveLoad
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func(closeEach bool) {
			defer wg.Done()
			load.run(listen, closeEach, stop, 20000)
		}(i >= 4)
	}
	stopLoad := func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}
	defer stopLoad()

	time.Sleep(300 * time.Millisecond)
	before := load.ok.Load()
	old.Process.Signal(syscall.SIGUSR2)
	select {
	case err := <-oldDone:
		if err != nil {
			t.Fatalf("old process exit: %v", err)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("the old process did not exit after the upgrade")
	}
	m := regexp.MustCompile(`upgrade: started .* as process (\d+)`).FindStringSubmatch(readLog())
	if m == nil {
		t.Fatal("no upgrade in the log")
	}
	newPid, _ := strconv.Atoi(m[1])
	t.Cleanup(func() { syscall.Kill(newPid, syscall.SIGKILL) })
	atExit := load.ok.Load()
	time.Sleep(300 * time.Millisecond)
	stopLoad()
	after := load.ok.Load()

	if n := load.failed.Load(); n != 0 {
		t.Fatalf("%d requests failed (%d ok); first: %v", n, after, load.firstErr.Load())
	}
	if before == 0 || after <= atExit {
		t.Fatalf("load did not run on both sides: %d before the upgrade, %d at the old exit, %d after", before, atExit, after)
	}
	log := readLog()
	if !strings.Contains(log, "socket inherited; pid "+m[1]) {
		t.Fatalf("the new process did not serve the inherited socket:\n%s", log)
	}
	t.Logf("%d requests, 0 failed; %d before SIGUSR2, %d by the old process's exit", after, before, atExit)
	// The new process serves on, and drains on SIGTERM like any.
	if body, err := get(http.DefaultClient, "http://"+listen+"/"); err != nil || body != "a" {
		t.Fatalf("after the upgrade: %q %v", body, err)
	}
	// The old process is gone: the admin socket answers from the new one.
	if body, err := get(http.DefaultClient, "http://"+adminAddr+"/metrics"); err != nil || !strings.Contains(body, "sluice_requests_total") {
		t.Fatalf("/metrics after the upgrade: %v %.200q", err, body)
	}
	syscall.Kill(newPid, syscall.SIGTERM)
}

// Bug 2, through the binary: SIGTERM while slow clients download large
// bodies; every byte must arrive before the process exits.
func TestSIGTERMDrainDeliversSlowDownloads(t *testing.T) {
	size := int64(6 << 20)
	chunk := bytes.Repeat([]byte("z"), 64<<10)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		for left := size; left > 0; left -= int64(len(chunk)) {
			if _, err := w.Write(chunk[:min(int64(len(chunk)), left)]); err != nil {
				return
			}
		}
	})}
	go up.Serve(l)
	t.Cleanup(func() { up.Close() })
	file := filepath.Join(t.TempDir(), "sluice.yaml")
	listen := freeport.Addr(t)
	writeConfig(t, file, listen, l.Addr().String())
	proc, done, _ := startLogged(t, "-c", file)
	(&gatewayProcess{addr: listen}).waitReady(t)

	const clients = 3
	var started sync.WaitGroup
	started.Add(clients)
	results := make(chan string, clients)
	for i := 0; i < clients; i++ {
		go func() {
			c, err := net.Dial("tcp", listen)
			if err != nil {
				results <- err.Error()
				started.Done()
				return
			}
			defer c.Close()
			c.(*net.TCPConn).SetReadBuffer(16 << 10)
			io.WriteString(c, "GET /big HTTP/1.1\r\nHost: a\r\n\r\n")
			c.SetReadDeadline(time.Now().Add(60 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReaderSize(c, 16<<10), nil)
			if err != nil {
				results <- err.Error()
				started.Done()
				return
			}
			buf := make([]byte, 16<<10)
			var got int64
			once := false
			for {
				n, err := resp.Body.Read(buf)
				got += int64(n)
				if !once && got >= 512<<10 {
					once = true
					started.Done()
				}
				if err != nil {
					if !once {
						started.Done()
					}
					if err == io.EOF && got == size {
						results <- ""
					} else {
						results <- fmt.Sprintf("%d of %d bytes: %v", got, size, err)
					}
					return
				}
				time.Sleep(4 * time.Millisecond)
			}
		}()
	}
	started.Wait()
	proc.Process.Signal(syscall.SIGTERM)
	for i := 0; i < clients; i++ {
		if r := <-results; r != "" {
			t.Errorf("slow download during the drain: %s", r)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after the drain: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the gateway did not exit after the drain")
	}
}

// An upgrade whose new process cannot start (here: the file became
// invalid) changes nothing: the old process says why and goes on serving.
func TestFailedUpgradeKeepsTheOldProcessServing(t *testing.T) {
	a := startUpstream(t, "a", 0)
	file := filepath.Join(t.TempDir(), "sluice.yaml")
	listen := freeport.Addr(t)
	writeConfig(t, file, listen, a.addr)
	old, oldDone, readLog := startLogged(t, "-c", file)
	(&gatewayProcess{addr: listen}).waitReady(t)
	os.WriteFile(file, []byte("listen: [not, an, address]\n"), 0o644)
	old.Process.Signal(syscall.SIGUSR2)
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(readLog(), "this process goes on serving") {
		if time.Now().After(deadline) {
			t.Fatal("the failed upgrade was not reported")
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case err := <-oldDone:
		t.Fatalf("the old process exited: %v", err)
	default:
	}
	for i := 0; i < 20; i++ {
		if body, err := get(http.DefaultClient, "http://"+listen+"/"); err != nil || body != "a" {
			t.Fatalf("after the failed upgrade: %q %v", body, err)
		}
	}
}

// An upgrade whose new process fails after it started accepting on the
// shared socket — here the new config moves the admin listener to an
// address that is taken — must fail safely: the connections the new process
// accepted meanwhile are served, and the old process goes on.
func TestUpgradeThatFailsAfterAcceptingLosesNothing(t *testing.T) {
	a := startUpstream(t, "a", time.Millisecond)
	file := filepath.Join(t.TempDir(), "sluice.yaml")
	listen := freeport.Addr(t)
	writeConfig(t, file, listen, a.addr)
	withAdmin := func(addr string) {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, "admin: { listen: \""+addr+"\" }\n"...) // after writeConfig's routes
		if err := os.WriteFile(file, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	withAdmin(freeport.Addr(t))
	old, oldDone, readLog := startLogged(t, "-c", file)
	(&gatewayProcess{addr: listen}).waitReady(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	writeConfig(t, file, listen, a.addr)
	withAdmin(taken.Addr().String())
	var load keepAliveLoad
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); load.run(listen, true, stop, 20000) }()
	}
	time.Sleep(200 * time.Millisecond)
	old.Process.Signal(syscall.SIGUSR2)
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(readLog(), "this process goes on serving") {
		if time.Now().After(deadline) {
			close(stop)
			wg.Wait()
			t.Fatal("the failed upgrade was not reported")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	select {
	case err := <-oldDone:
		t.Fatalf("the old process exited: %v", err)
	default:
	}
	if n := load.failed.Load(); n != 0 {
		t.Fatalf("%d requests failed (%d ok); first: %v", n, load.ok.Load(), load.firstErr.Load())
	}
}

// A change made through the Admin API just before SIGUSR2 is served by the
// new process: the file it reads is flushed first. The second of two
// changes in a row falls in the writer's gap between writes (a second),
// so without the flush the new process read the file without it.
func TestUpgradeKeepsTheChangesJustMade(t *testing.T) {
	old, oldDone, readLog, g, _ := startUpgradableAdmin(t)
	listen := g.addr
	for _, name := range []string{"first", "second"} {
		if st, body, _ := g.call(t, "PUT", "/routes/"+name, `{"match": {"paths": ["/`+name+`"]}, "upstream": "up"}`); st != 201 {
			t.Fatalf("PUT %s: %d %s", name, st, body)
		}
	}
	old.Process.Signal(syscall.SIGUSR2)
	select {
	case err := <-oldDone:
		if err != nil {
			t.Fatalf("old process exit: %v\n%s", err, readLog())
		}
	case <-time.After(40 * time.Second):
		t.Fatalf("the old process did not exit after the upgrade:\n%s", readLog())
	}
	m := regexp.MustCompile(`upgrade: started .* as process (\d+)`).FindStringSubmatch(readLog())
	if m == nil {
		t.Fatalf("no upgrade in the log:\n%s", readLog())
	}
	newPid, _ := strconv.Atoi(m[1])
	t.Cleanup(func() { syscall.Kill(newPid, syscall.SIGKILL) })
	for _, path := range []string{"/base", "/first", "/second"} {
		if body, err := get(http.DefaultClient, "http://"+listen+path); err != nil || body != "a" {
			t.Fatalf("GET %s from the new process: %q %v", path, body, err)
		}
	}
	syscall.Kill(newPid, syscall.SIGTERM)
}

// Changes are refused while an upgrade is under way (the new process
// would not have them) and taken again once it failed.
func TestFailedUpgradeTakesChangesAgain(t *testing.T) {
	old, oldDone, readLog, g, file := startUpgradableAdmin(t)
	listen := g.addr
	os.WriteFile(file, []byte("listen: [not, an, address]\n"), 0o600) // the new process cannot start
	old.Process.Signal(syscall.SIGUSR2)
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(readLog(), "this process goes on serving") {
		if time.Now().After(deadline) {
			t.Fatalf("the failed upgrade was not reported:\n%s", readLog())
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case err := <-oldDone:
		t.Fatalf("the old process exited: %v", err)
	default:
	}
	if st, body, _ := g.call(t, "PUT", "/routes/after", `{"match": {"paths": ["/after"]}, "upstream": "up"}`); st != 201 {
		t.Fatalf("PUT after the failed upgrade: %d %s", st, body)
	}
	if body, err := get(http.DefaultClient, "http://"+listen+"/after"); err != nil || body != "a" {
		t.Fatalf("GET /after: %q %v", body, err)
	}
}

// startUpgradableAdmin starts the binary with its log kept (startLogged),
// an admin listener and a config file of one route (/base to upstream
// "up", answering "a"), for the tests of upgrades and Admin API changes.
func startUpgradableAdmin(t *testing.T) (*exec.Cmd, chan error, func() string, *adminGateway, string) {
	t.Helper()
	up := startUpstream(t, "a", 0)
	file := filepath.Join(t.TempDir(), "sluice.yaml")
	listen, adminAddr := freeport.Addr(t), freeport.Addr(t)
	os.WriteFile(file, []byte(fmt.Sprintf("listen: %s\nworkers: 1\nadmin: {listen: %s}\nupstreams: [{name: up, targets: [{addr: %s}]}]\nroutes: [{name: base, match: {paths: [/base]}, upstream: up}]\n",
		listen, adminAddr, up.addr)), 0o600)
	t.Setenv(tokenEnv, testToken)
	old, oldDone, readLog := startLogged(t, "-c", file)
	p := &gatewayProcess{addr: listen}
	p.waitReady(t)
	waitAdmin(t, adminAddr)
	return old, oldDone, readLog, &adminGateway{gatewayProcess: p, admin: adminAddr}, file
}
