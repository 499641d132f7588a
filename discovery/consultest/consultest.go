// Package consultest starts real Consul agents for tests: `consul agent
// -dev` on loopback ports it picks (HTTP, DNS, Serf LAN and WAN, server RPC,
// gRPC), in memory, stopped when the test ends.
//
// Consul is not a Debian package: `make test` builds it once from its Go
// module (scripts/install-consul.sh) into ~/.cache/sluice/consul-1.20.1.
// The fixture looks at $SLUICE_CONSUL, then that cache, then consul on PATH.
// Without a binary a test is skipped, and fails under CI=true, where
// skipping would hide that nothing ran.
package consultest

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/internal/freeport"
)

// Bounds of the fixture's own waits; generous, for loaded CI machines.
const (
	startTimeout = 30 * time.Second // until the agent has a leader
	stopTimeout  = 5 * time.Second  // after SIGTERM, before SIGKILL
	portTries    = 5                // port sets tried when one is taken meanwhile
)

// Version is the Consul release scripts/install-consul.sh builds.
const Version = "1.20.1"

// Agent is one `consul agent -dev` process. Its methods may be called from
// any goroutine, but Stop, Kill and Start not concurrently with each other.
type Agent struct {
	tb    testing.TB
	bin   string
	dir   string
	extra []string
	ports [7]int // http, dns, serf_lan, serf_wan, server, grpc, grpc_tls

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

// Binary returns the consul binary the fixture uses, or an error saying
// how to get one.
func Binary() (string, error) {
	if p := os.Getenv("SLUICE_CONSUL"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("consultest: $SLUICE_CONSUL: %v", err)
		}
		return p, nil
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, ".cache", "sluice", "consul-"+Version)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("consul"); err == nil {
		return p, nil
	}
	return "", errors.New("consultest: no consul binary ($SLUICE_CONSUL, ~/.cache/sluice/consul-" + Version +
		", PATH); build it with scripts/install-consul.sh (run by `make test`)")
}

// Start starts an agent in -dev mode on free loopback ports, waits until it
// has a leader, and stops it in tb.Cleanup.
func Start(tb testing.TB) *Agent {
	tb.Helper()
	return StartWith(tb)
}

// StartWith is Start with more agent arguments, for example
// "-hcl", "limits { http_max_conns_per_client = 4096 }".
func StartWith(tb testing.TB, args ...string) *Agent {
	tb.Helper()
	bin, err := Binary()
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatal(err.Error() + " — CI=true: a missing Consul is a failure, not a skip")
		}
		tb.Skip(err.Error())
	}
	a := &Agent{tb: tb, bin: bin, dir: tb.TempDir(), extra: args}
	var lastErr error
	for range portTries {
		if err = freePorts(a.ports[:]); err != nil {
			tb.Fatalf("consultest: finding free ports: %v", err)
		}
		if lastErr = a.launch(); lastErr == nil {
			tb.Cleanup(func() {
				a.Stop()
				if tb.Failed() {
					tb.Logf("consultest: output of the agent on %s:\n%s", a.Addr(), a.Output())
				}
			})
			return a
		}
		if !errors.Is(lastErr, errPortTaken) {
			break
		}
	}
	tb.Fatalf("consultest: %v", lastErr)
	return nil
}

var errPortTaken = errors.New("port taken")

// freePorts fills ports with distinct loopback ports that were free a
// moment ago: two of Consul's ports alike make it exit ("... already
// configured for RPC Advertise").
func freePorts(ports []int) error {
	for i := range ports {
		p, err := freeport.Port()
		if err != nil {
			return err
		}
		ports[i] = p
	}
	return nil
}

func (a *Agent) args() []string {
	p := func(i int) string { return strconv.Itoa(a.ports[i]) }
	args := []string{"agent", "-dev", "-bind", "127.0.0.1", "-client", "127.0.0.1",
		"-node", "consultest", "-log-level", "warn",
		"-http-port", p(0), "-dns-port", p(1), "-serf-lan-port", p(2), "-serf-wan-port", p(3),
		"-server-port", p(4), "-grpc-port", p(5), "-grpc-tls-port", p(6)}
	return append(args, a.extra...)
}

// launch starts the process and waits for a leader. The error wraps
// errPortTaken when a port was in use.
func (a *Agent) launch() error {
	cmd := exec.Command(a.bin, a.args()...)
	cmd.Dir = a.dir
	cmd.Env = append(os.Environ(), "CHECKPOINT_DISABLE=1")
	log := filepath.Join(a.dir, "agent-"+strconv.Itoa(a.ports[0])+".log")
	out, err := os.OpenFile(log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %v", a.bin, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	a.mu.Lock()
	a.cmd, a.done, a.log = cmd, done, log
	a.mu.Unlock()
	deadline := time.Now().Add(startTimeout)
	client := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-done:
			text := a.Output()
			if strings.Contains(text, "address already in use") || strings.Contains(text, "already configured for") {
				return fmt.Errorf("%w: %s", errPortTaken, text)
			}
			return fmt.Errorf("consul exited at start (%s):\n%s", cmd.ProcessState, text)
		default:
		}
		if resp, err := client.Get("http://" + a.Addr() + "/v1/status/leader"); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && len(strings.Trim(strings.TrimSpace(string(body)), `"`)) > 0 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			a.signal(syscall.SIGKILL)
			<-done
			return fmt.Errorf("consul on %s had no leader within %s:\n%s", a.Addr(), startTimeout, a.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Addr is the agent's HTTP API, "127.0.0.1:port".
func (a *Agent) Addr() string { return "127.0.0.1:" + strconv.Itoa(a.ports[0]) }

// Output returns what the agent has written so far.
func (a *Agent) Output() string {
	a.mu.Lock()
	log := a.log
	a.mu.Unlock()
	b, _ := os.ReadFile(log)
	return string(b)
}

func (a *Agent) signal(sig os.Signal) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cmd != nil && a.cmd.Process != nil {
		_ = a.cmd.Process.Signal(sig)
	}
}

func (a *Agent) running() (chan struct{}, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.done == nil {
		return nil, false
	}
	select {
	case <-a.done:
		return a.done, false
	default:
		return a.done, true
	}
}

// Stop ends the agent (SIGTERM, then SIGKILL after a few seconds) and
// waits for it. Stopping a stopped agent does nothing.
func (a *Agent) Stop() {
	done, ok := a.running()
	if !ok {
		return
	}
	a.signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(stopTimeout):
		a.signal(syscall.SIGKILL)
		<-done
	}
}

// Kill ends the agent with SIGKILL, as a crash, and waits for it.
func (a *Agent) Kill() {
	done, ok := a.running()
	if !ok {
		return
	}
	a.signal(syscall.SIGKILL)
	<-done
}

// Restart starts a stopped or killed agent again on the same ports (a -dev
// agent keeps nothing: the catalog and KV start empty) and waits for a
// leader.
func (a *Agent) Restart() {
	a.tb.Helper()
	a.Stop()
	if err := a.launch(); err != nil {
		a.tb.Fatalf("consultest: restart: %v", err)
	}
}
