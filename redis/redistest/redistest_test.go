package redistest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestMissingServer runs a test that calls Start with no redis-server on
// PATH, in a child process: skipped normally, failed under CI=true.
func TestMissingServer(t *testing.T) {
	if os.Getenv("REDISTEST_CHILD") == "1" {
		Start(t)
		t.Fatal("Start returned without a redis-server")
	}
	for _, tc := range []struct {
		ci       string
		wantFail bool
		wantText string
	}{
		{"", false, "--- SKIP: TestMissingServer"},
		{"true", true, "CI=true: a missing server is a failure"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMissingServer$", "-test.v")
		cmd.Env = append(os.Environ(), "REDISTEST_CHILD=1", "PATH="+t.TempDir(), "CI="+tc.ci)
		out, err := cmd.CombinedOutput()
		if failed := err != nil; failed != tc.wantFail || !strings.Contains(string(out), tc.wantText) ||
			!strings.Contains(string(out), "redis-server not found on PATH") {
			t.Errorf("CI=%q: err %v, output:\n%s", tc.ci, err, out)
		}
	}
}

// TestRestartKeepsPort: Restart serves again on the same port, with an
// empty dataset, and Stop leaves nothing listening.
func TestRestartKeepsPort(t *testing.T) {
	s := Start(t)
	if _, err := s.Do("SET", "a", "1"); err != nil {
		t.Fatal(err)
	}
	port := s.Port()
	s.Stop()
	if _, err := s.Do("PING"); err == nil {
		t.Fatal("PING answered after Stop")
	}
	s.Restart()
	if s.Port() != port {
		t.Fatalf("port %d after Restart, was %d", s.Port(), port)
	}
	if got, err := s.Do("GET", "a"); err != nil || got != "" {
		t.Errorf("GET after Restart = %q, %v; want an empty dataset", got, err)
	}
}
