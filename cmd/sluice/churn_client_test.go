package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The churn cell's Admin API client runs in a process of its own, on one
// P, with one keep-alive connection to the Admin API and one to the
// gateway, each used from a single goroutine: its CPU, which the machine's
// two cores give to it and not to wrk, the upstream or the gateway, is
// then its own to measure (about 0.5 ms a change under the cell's load,
// as much as 0.9 ms on an idle machine, mostly waking up), and reported
// beside the p99s it moves. In a deployment the operator's client runs
// elsewhere.

// churnClientEnv makes the test binary the churn client, with the
// churnSpec in JSON it holds, instead of running tests.
const churnClientEnv = "SLUICE_TEST_CHURN_CLIENT"

type churnSpec struct {
	Admin, Gateway, Token string
	Rate                  int           // changes a second
	Windows               time.Duration // >0: changes only in even wall-clock windows of this width
	First                 int           // the number of the first change, so routes differ between cells
}

type churnReport struct {
	Changes, Refused, Retried, Unserved int
	Lags                                []time.Duration // from each change's 200 to the changed route answering
	Notes                               []string        // the first refusals and failures, for the log
	CPU                                 time.Duration   // set by the test, from the process's rusage
}

// runChurnClient changes routes at spec.Rate until its stdin closes, then
// writes its churnReport to stdout.
func runChurnClient(specJSON string) {
	runtime.GOMAXPROCS(1)
	var spec churnSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		fmt.Fprintln(os.Stderr, "churn client:", err)
		os.Exit(2)
	}
	stop := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(stop)
	}()
	admin, gateway := &rawConn{addr: spec.Admin}, &rawConn{addr: spec.Gateway}
	var rep churnReport
	note := func(format string, args ...any) {
		if len(rep.Notes) < 10 {
			rep.Notes = append(rep.Notes, fmt.Sprintf(format, args...))
		}
	}
	period := time.Second / time.Duration(spec.Rate)
	timer := time.NewTimer(period)
	next := time.Now()
	for n := spec.First; ; n++ {
		next = next.Add(period)
		timer.Reset(time.Until(next))
		select {
		case <-stop:
			json.NewEncoder(os.Stdout).Encode(&rep)
			os.Exit(0)
		case <-timer.C:
		}
		if spec.Windows > 0 && (time.Now().UnixNano()/int64(spec.Windows))%2 == 1 {
			continue
		}
		i := (n * 7919) % 10000
		if i == 5000 { // the route wrk requests
			continue
		}
		path := fmt.Sprintf("/churn%d/%d", i, n)
		body := fmt.Sprintf(`{"match": {"paths": [%q]}, "upstream": "up"}`, path)
		req := fmt.Sprintf("PUT /routes/r%d HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
			i, spec.Admin, spec.Token, len(body), body)
		rep.Changes++
		st, answer, err := admin.roundTrip(req, "PUT")
		ok := time.Now()
		if err != nil || (st != 200 && st != 201) { // 201: the route was created
			rep.Refused++
			note("change %d refused: %d %v %s", n, st, err, answer)
			continue
		}
		probe := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, spec.Gateway)
		for try := 0; ; try++ {
			if try == 1 {
				rep.Retried++ // the first request after the 200 did not see the change
			}
			if st, _, err := gateway.roundTrip(probe, "GET"); err == nil && st == 200 {
				rep.Lags = append(rep.Lags, time.Since(ok))
				break
			}
			if time.Since(ok) > 5*time.Second {
				rep.Unserved++
				note("change %d never served", n)
				break
			}
		}
	}
}

// rawConn is one keep-alive HTTP/1.1 connection, redialled after an
// error; requests are written as given and answers read with net/http's
// parser.
type rawConn struct {
	addr string
	c    net.Conn
	r    *bufio.Reader
}

func (rc *rawConn) roundTrip(req, method string) (int, string, error) {
	for attempt := 0; ; attempt++ {
		reused := rc.c != nil
		if !reused {
			c, err := net.DialTimeout("tcp", rc.addr, 5*time.Second)
			if err != nil {
				return 0, "", err
			}
			rc.c, rc.r = c, bufio.NewReader(c)
		}
		rc.c.SetDeadline(time.Now().Add(5 * time.Second))
		status, body, err := rc.exchange(req, method)
		if err == nil {
			return status, body, nil
		}
		rc.c.Close()
		rc.c = nil
		// A kept-alive connection the server closed meanwhile fails at
		// once; the request (a PUT of the same body, or a GET) is sent
		// again on a new one, as net/http's client does for a GET.
		if !reused || attempt > 0 {
			return 0, "", err
		}
	}
}

// exchange writes req and reads its answer; the connection is closed
// (rc.c nil) after an answer that says so. On an error the caller closes it.
func (rc *rawConn) exchange(req, method string) (int, string, error) {
	if _, err := io.WriteString(rc.c, req); err != nil {
		return 0, "", err
	}
	resp, err := http.ReadResponse(rc.r, &http.Request{Method: method})
	if err != nil {
		return 0, "", err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, "", err
	}
	if resp.Close {
		rc.c.Close()
		rc.c = nil
	}
	return resp.StatusCode, strings.TrimSpace(string(b)), nil
}

// churnClient is a running churn client process.
type churnClient struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   strings.Builder
}

func startChurnClient(t *testing.T, spec churnSpec) *churnClient {
	t.Helper()
	b, _ := json.Marshal(spec)
	c := &churnClient{cmd: exec.Command(os.Args[0])}
	c.cmd.Env = append(os.Environ(), churnClientEnv+"="+string(b))
	c.cmd.Stdout, c.cmd.Stderr = &c.out, os.Stderr
	var err error
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return c
}

// stop ends the client and returns its report, with the CPU it used.
func (c *churnClient) stop(t *testing.T) churnReport {
	t.Helper()
	c.stdin.Close()
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("churn client: %v\n%s", err, c.out.String())
	}
	var rep churnReport
	if err := json.Unmarshal([]byte(c.out.String()), &rep); err != nil {
		t.Fatalf("churn client's report: %v\n%s", err, c.out.String())
	}
	rep.CPU = c.cmd.ProcessState.UserTime() + c.cmd.ProcessState.SystemTime()
	return rep
}

// TestChurnClientChangesAndProbes runs the churn cell's client against a
// gateway for a moment: every change it sends is accepted and then
// served, and its report says so (the measurement's tool, checked where
// the measurement itself, which needs wrk and minutes, is not run).
func TestChurnClientChangesAndProbes(t *testing.T) {
	up := startUpstream(t, "up", 0)
	g := startAdminGateway(t, adminConfigFile(t, up.addr))
	c := startChurnClient(t, churnSpec{Admin: g.admin, Gateway: g.addr, Token: testToken, Rate: 50})
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body, _ := g.call(t, "GET", "/routes", "")
		if strings.Count(body, `"/churn`) >= 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	rep := c.stop(t)
	if rep.Changes < 3 || rep.Refused != 0 || rep.Unserved != 0 || len(rep.Lags) != rep.Changes {
		t.Fatalf("report: %d changes, %d refused, %d never served, %d answered; notes %q",
			rep.Changes, rep.Refused, rep.Unserved, len(rep.Lags), rep.Notes)
	}
	if rep.CPU <= 0 {
		t.Errorf("the client's CPU was not read: %v", rep.CPU)
	}
}

// TestRawConnSendsAgainOnAClosedConnection: a server that closes each
// connection after one answer, without saying so, still answers every
// request of the churn client's connection, which sends the request again
// on a new connection once; a refused dial is an error.
func TestRawConnSendsAgainOnAClosedConnection(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var accepted atomic.Int64
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			}
			c.Close()
		}
	}()
	rc := &rawConn{addr: l.Addr().String()}
	for i := 0; i < 3; i++ {
		st, body, err := rc.roundTrip("GET /x HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
		if err != nil || st != 200 || body != "ok" {
			t.Fatalf("request %d: %d %q %v", i, st, body, err)
		}
	}
	if n := accepted.Load(); n != 3 {
		t.Errorf("%d connections for 3 requests, want 3", n)
	}
	l.Close()
	rc.c = nil
	if _, _, err := rc.roundTrip("GET /x HTTP/1.1\r\nHost: x\r\n\r\n", "GET"); err == nil {
		t.Error("a request to a closed listener succeeded")
	}
}
