// Package redistest starts real redis-server processes for tests: each on a
// free 127.0.0.1 port, with no persistence and its own temporary directory,
// stopped when the test ends.
//
// The binary comes from Debian's redis-server package, which `make test`
// installs (scripts/install-test-deps.sh). Without it a test is skipped, and
// fails under CI=true, where skipping would hide that nothing ran.
package redistest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
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
	startTimeout = 15 * time.Second // until the server answers PING
	stopTimeout  = 5 * time.Second  // after SIGTERM, before SIGKILL
	portTries    = 5                // free ports tried when one is taken meanwhile
)

// Server is one redis-server (or sentinel) process. Its methods may be
// called from any goroutine, but Stop, Kill and Restart not concurrently
// with each other.
type Server struct {
	tb      testing.TB
	bin     string
	dir     string
	port    int
	argsFor func(port int) []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	log  string        // the file of the process's stdout and stderr
}

// Start starts a redis-server on a free port with args added to the
// fixture's (--port, --bind 127.0.0.1, --save "", --appendonly no, --dir
// of a temporary directory), waits until it answers PING and stops it in
// tb.Cleanup. For example Start(t, "--requirepass", "secret").
func Start(tb testing.TB, args ...string) *Server {
	tb.Helper()
	dir := tb.TempDir()
	return start(tb, dir, func(port int) []string {
		return append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no", "--logfile", ""}, args...)
	})
}

// StartSentinel starts a sentinel (redis-server --sentinel) on a free port
// that monitors master under masterName with a quorum of 1.
func StartSentinel(tb testing.TB, masterName string, master *Server) *Server {
	tb.Helper()
	dir := tb.TempDir()
	return start(tb, dir, func(port int) []string {
		// A sentinel rewrites its config file, so each start writes it anew.
		conf := filepath.Join(dir, "sentinel.conf")
		text := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nlogfile \"\"\n"+
			"sentinel monitor %s 127.0.0.1 %d 1\nsentinel down-after-milliseconds %s 1000\n",
			port, dir, masterName, master.Port(), masterName)
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			tb.Fatalf("redistest: writing %s: %v", conf, err)
		}
		return []string{conf, "--sentinel"}
	})
}

// StartCluster starts a one-node Redis Cluster holding every slot, and
// waits until the cluster state is ok: enough to test a client in cluster
// mode (slot routing, CLUSTER SLOTS) without six processes.
func StartCluster(tb testing.TB) *Server {
	tb.Helper()
	s := Start(tb, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
	if _, err := s.Do("CLUSTER", "ADDSLOTSRANGE", "0", "16383"); err != nil {
		tb.Fatalf("redistest: CLUSTER ADDSLOTSRANGE: %v", err)
	}
	deadline := time.Now().Add(startTimeout)
	for {
		info, err := s.Do("CLUSTER", "INFO")
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			return s
		}
		if time.Now().After(deadline) {
			tb.Fatalf("redistest: cluster state not ok after %s: %v\n%s", startTimeout, err, info)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func start(tb testing.TB, dir string, argsFor func(port int) []string) *Server {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		msg := "redistest: redis-server not found on PATH; install Debian's redis-server package (scripts/install-test-deps.sh, run by `make test`)"
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg + " — CI=true: a missing server is a failure, not a skip")
		}
		tb.Skip(msg)
	}
	s := &Server{tb: tb, bin: bin, dir: dir, argsFor: argsFor}
	var lastErr error
	for range portTries {
		port, err := freeport.Port()
		if err != nil {
			tb.Fatalf("redistest: finding a free port: %v", err)
		}
		s.port = port
		if lastErr = s.launch(); lastErr == nil {
			tb.Cleanup(func() {
				s.Stop()
				if tb.Failed() {
					tb.Logf("redistest: output of the server on %s:\n%s", s.Addr(), s.Output())
				}
			})
			return s
		}
		if !errors.Is(lastErr, errPortTaken) {
			break
		}
	}
	tb.Fatalf("redistest: %v", lastErr)
	return nil
}

var errPortTaken = errors.New("port taken")

// launch starts the process on s.port and waits until it answers. The
// error wraps errPortTaken when the port was in use.
func (s *Server) launch() error {
	cmd := exec.Command(s.bin, s.argsFor(s.port)...)
	cmd.Dir = s.dir
	// The output goes to a file, not a pipe: no copier goroutine, and it
	// survives for the failure report.
	log := filepath.Join(s.dir, "server-"+strconv.Itoa(s.port)+".log")
	out, err := os.OpenFile(log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer out.Close() // the child has its own descriptor
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %v", s.bin, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	s.mu.Lock()
	s.cmd, s.done, s.log = cmd, done, log
	s.mu.Unlock()
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-done:
			text := s.Output()
			if strings.Contains(text, "Address already in use") {
				return fmt.Errorf("%w: %d", errPortTaken, s.port)
			}
			return fmt.Errorf("redis-server exited at start (%s):\n%s", cmd.ProcessState, text)
		default:
		}
		if _, err := s.Do("PING"); err == nil || isReply(err) {
			return nil // an error reply (NOAUTH) is an answer too
		}
		if time.Now().After(deadline) {
			s.kill()
			return fmt.Errorf("redis-server on port %d did not answer PING within %s:\n%s", s.port, startTimeout, s.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Addr is the server's "127.0.0.1:port".
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// Port is the server's port; Restart keeps it.
func (s *Server) Port() int { return s.port }

// Output is what the server has written to stdout and stderr (its log)
// since it was started on this port, restarts included.
func (s *Server) Output() string {
	s.mu.Lock()
	log := s.log
	s.mu.Unlock()
	data, err := os.ReadFile(log)
	if err != nil {
		return "(no output: " + err.Error() + ")"
	}
	return string(data)
}

// Stop ends the server (SIGTERM, SIGKILL after 5s) and waits until it has
// exited: nothing listens on its port afterwards. Stopping a stopped server
// does nothing.
func (s *Server) Stop() { s.signal(syscall.SIGTERM) }

// Kill ends the server with SIGKILL, as a crash would, and waits.
func (s *Server) Kill() { s.kill() }

func (s *Server) kill() { s.signal(syscall.SIGKILL) }

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(stopTimeout):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Restart stops the server if it runs and starts it again on the same port
// with the same arguments (an empty dataset: nothing is persisted).
func (s *Server) Restart() {
	s.tb.Helper()
	s.Stop()
	if err := s.launch(); err != nil {
		s.tb.Fatalf("redistest: restart: %v", err)
	}
}

// Pause makes the server hold every client's commands for d (CLIENT PAUSE
// ALL), as a server that is slow or stuck in a long command would; it
// returns at once. Nothing ends the pause early (CLIENT UNPAUSE would be
// held too), and Stop waits for its end: keep d short.
func (s *Server) Pause(d time.Duration) {
	s.tb.Helper()
	if _, err := s.Do("CLIENT", "PAUSE", strconv.FormatInt(d.Milliseconds(), 10), "ALL"); err != nil {
		s.tb.Fatalf("redistest: CLIENT PAUSE: %v", err)
	}
}

// Do sends one command on a new connection and returns the reply as text
// (integers in decimal, arrays as their elements joined by "\n", a nil as
// ""). An error reply is an error whose text is the reply. For setting up a
// test (CONFIG SET, ACL SETUSER, FLUSHALL), not for speed.
func (s *Server) Do(args ...string) (string, error) {
	conn, err := net.DialTimeout("tcp", s.Addr(), time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	var req bytes.Buffer
	fmt.Fprintf(&req, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&req, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := conn.Write(req.Bytes()); err != nil {
		return "", err
	}
	return readReply(bufio.NewReader(conn))
}

// Calls is how many times the server ran the named commands (lower case,
// as INFO commandstats names them: "get", "evalsha") since it started or
// its last CONFIG RESETSTAT, summed. A script's own commands are counted
// under their names, apart from the script's.
func (s *Server) Calls(cmds ...string) (int64, error) {
	info, err := s.Do("INFO", "commandstats")
	if err != nil {
		return 0, err
	}
	var n int64
	for _, line := range strings.Split(info, "\n") {
		for _, cmd := range cmds {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_"+cmd+":calls="); ok {
				v, _, _ := strings.Cut(rest, ",")
				c, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return 0, fmt.Errorf("redistest: commandstats line %q: %w", line, err)
				}
				n += c
			}
		}
	}
	return n, nil
}

// replyError is an error reply of the server.
type replyError string

func (e replyError) Error() string { return string(e) }

func isReply(err error) bool {
	var re replyError
	return errors.As(err, &re)
}

// readReply reads one RESP2 reply.
func readReply(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return "", errors.New("empty reply line")
	}
	switch body := line[1:]; line[0] {
	case '+', ':':
		return body, nil
	case '-':
		return "", replyError(body)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return "", err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return "", err
		}
		items := make([]string, n)
		for i := range items {
			if items[i], err = readReply(r); err != nil {
				return "", err
			}
		}
		return strings.Join(items, "\n"), nil
	}
	return "", fmt.Errorf("unexpected reply %q", line)
}
