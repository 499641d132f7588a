package main

import (
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/internal/freeport"
)

// upstreamProcessEnv makes the test binary an upstream answering "ok" on
// the address it holds, instead of running tests.
const upstreamProcessEnv = "SLUICE_TEST_UPSTREAM_LISTEN"

func serveUpstreamProcess(addr string) {
	runtime.GOMAXPROCS(1)
	err := http.ListenAndServe(addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	os.Stderr.WriteString("upstream process: " + err.Error() + "\n")
	os.Exit(1)
}

// startUpstreamProcess starts an upstream answering "ok" in a process of
// its own, pinned to cpu: for measurements, where an upstream inside the
// test process shares its garbage collector and scheduler with the test's
// own clients (the churn cell's Admin API client stalled it).
func startUpstreamProcess(t *testing.T, cpu string) string {
	t.Helper()
	addr := freeport.Addr(t)
	cmd := exec.Command("taskset", "-c", cpu, os.Args[0])
	cmd.Env = append(os.Environ(), upstreamProcessEnv+"="+addr)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("the upstream process never listened on %s", addr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
