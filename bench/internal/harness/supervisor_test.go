package harness

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// zombie reports whether pid has exited and waits to be reaped (or is gone).

// TestStopKillsTheWholeGroup checks what the harness promises: stopping a
// peer also stops its children (nginx's workers), even one ignoring SIGTERM.
func TestStopKillsTheWholeGroup(t *testing.T) {
	dir := t.TempDir()
	s := NewSupervisor(dir)
	defer s.StopAll()
	pidFile := dir + "/child.pid"
	p, err := s.Start(StartOpts{Name: "tree", Argv: []string{"sh", "-c",
		`sh -c 'trap "" TERM; sleep 300' & echo $! > ` + pidFile + `; sleep 300`}})
	if err != nil {
		t.Fatal(err)
	}
	var child int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(pidFile); err == nil && len(strings.TrimSpace(string(b))) > 0 {
			child, _ = strconv.Atoi(strings.TrimSpace(string(b)))
			break
		}
	}
	if child == 0 {
		t.Fatal("child never started")
	}
	p.Stop(500 * time.Millisecond)
	if exited, _ := p.Exited(); !exited {
		t.Fatal("leader still running after Stop")
	}
	// A killed child lingers as a zombie until init reaps it.
	for deadline := time.Now().Add(10 * time.Second); alive(child) && !zombie(child); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("child %d survived Stop", child)
		}
	}
}
func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	i := strings.LastIndexByte(string(b), ')')
	return i > 0 && len(b) > i+2 && b[i+2] == 'Z'
}

func TestStopAllAndExitDetection(t *testing.T) {
	s := NewSupervisor(t.TempDir())
	quick, err := s.Start(StartOpts{Name: "quick", Argv: []string{"sh", "-c", "echo hello; exit 3"}})
	if err != nil {
		t.Fatal(err)
	}
	<-quick.Done()
	if exited, err := quick.Exited(); !exited || err == nil {
		t.Fatalf("Exited = %v, %v; want true and an error", exited, err)
	}
	if tail := quick.LogTail(100); tail != "hello" {
		t.Fatalf("LogTail = %q, want the process's output", tail)
	}
	long, err := s.Start(StartOpts{Name: "long", Argv: []string{"sleep", "300"}})
	if err != nil {
		t.Fatal(err)
	}
	s.StopAll()
	select {
	case <-long.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("StopAll left a process running")
	}
}

// TestFailureFindsTheGoPanic pins the report of the 03:27 crash, whose log
// tail named only gnet's event loop, not the panic.
func TestFailureFindsTheGoPanic(t *testing.T) {
	s := NewSupervisor(t.TempDir())
	script := `echo "sluice: listening"; echo "panic: runtime error: invalid memory address or nil pointer dereference";` +
		`echo "goroutine 15 [running]:"; echo "engine.(*upstreamConn).relayBytes(...)"; i=0;` +
		`while [ $i -lt 50 ]; do echo "	frame $i"; i=$((i+1)); done; exit 2`
	p, err := s.Start(StartOpts{Name: "crash", Argv: []string{"sh", "-c", script}})
	if err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	got := p.Failure()
	if !strings.HasPrefix(got, "panic: runtime error") || !strings.Contains(got, "relayBytes") || strings.Contains(got, "frame 40") {
		t.Fatalf("Failure() = %q", got)
	}
	q, err := s.Start(StartOpts{Name: "plain-exit", Argv: []string{"sh", "-c", "echo bind: address already in use; exit 1"}})
	if err != nil {
		t.Fatal(err)
	}
	<-q.Done()
	if got := q.Failure(); got != "bind: address already in use" {
		t.Fatalf("Failure() without a panic = %q, want the log tail", got)
	}
}
