package live

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/config"
)

// manyRoutes is a validated config of n routes.
func manyRoutes(t *testing.T, n int) *config.Config {
	t.Helper()
	var b strings.Builder
	b.WriteString("upstreams: [{name: up, targets: [{addr: 127.0.0.1:1}]}]\nroutes:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  - {name: r%d, match: {paths: [/r%d/*]}, upstream: up}\n", i, i)
	}
	cfg, err := config.Parse([]byte(b.String()), "many.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// waitEncoded waits until the writer has encoded want routes in all.
func waitEncoded(t *testing.T, p *persister, want int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for p.enc.Encoded() < want {
		if time.Now().After(deadline) {
			t.Fatalf("the writer encoded %d routes, want %d", p.enc.Encoded(), want)
		}
		time.Sleep(time.Millisecond)
	}
}

// The configuration a process starts with, and each one a reload reads,
// is encoded before any change: the first change's write-back encodes the
// route it changed, not every route (it used to encode all 10,000 on the
// cores serving requests, the churn cell's worst round).
func TestPersisterWarmsSoAChangeEncodesOneRoute(t *testing.T) {
	const n = 200
	file := filepath.Join(t.TempDir(), "sluice.yaml")
	p := newPersister(file, t.Logf)
	cfg := manyRoutes(t, n)
	p.warm(cfg)
	waitEncoded(t, p, n)
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatalf("warming wrote the file: %v", err)
	}

	next, _, err := cfg.PutRoute("r7", []byte(`{"match": {"paths": ["/seven/*"]}, "upstream": "up"}`), "PUT /routes/r7")
	if err != nil {
		t.Fatal(err)
	}
	p.want(next, 2)
	if err := p.close(); err != nil {
		t.Fatal(err)
	}
	if got := p.enc.Encoded(); got != n+1 {
		t.Fatalf("the change's write-back encoded %d routes, want 1", got-n)
	}
	written, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	back, err := config.Parse(written, file)
	if err != nil {
		t.Fatal(err)
	}
	if back.Routes.Len() != n || back.Routes.At(7).Match.Paths[0] != "/seven/*" {
		t.Fatalf("the file does not hold the change: %d routes, r7 %v", back.Routes.Len(), back.Routes.At(7).Match.Paths)
	}
}

// A reload (forget) drops the write that was due and warms the writer
// with the file's configuration.
func TestPersisterForgetWarms(t *testing.T) {
	const n = 50
	p := newPersister(filepath.Join(t.TempDir(), "sluice.yaml"), t.Logf)
	defer p.close()
	p.forget(manyRoutes(t, n))
	waitEncoded(t, p, n)
	if v, err := p.status(); v != 0 || err != nil {
		t.Fatalf("forget wrote: version %d, %v", v, err)
	}
}

// Flush puts the newest version on disk before it returns, even while the
// writer waits out the gap after a write (an upgrade's new process reads
// the file next).
func TestPersisterFlushWritesTheNewestVersion(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sluice.yaml")
	p := newPersister(file, t.Logf)
	defer p.close()
	cfg := manyRoutes(t, 20)
	p.want(cfg, 1)
	if err := p.flush(); err != nil {
		t.Fatal(err)
	}
	for v := uint64(2); v < 5; v++ {
		next, _, err := cfg.PutRoute("r3", []byte(fmt.Sprintf(`{"match": {"paths": ["/v%d/*"]}, "upstream": "up"}`, v)), "PUT /routes/r3")
		if err != nil {
			t.Fatal(err)
		}
		cfg = next
		p.want(cfg, v) // the writer is within its gap: without flush this waits
		if err := p.flush(); err != nil {
			t.Fatal(err)
		}
		if got, err := p.status(); got != v || err != nil {
			t.Fatalf("after flush the file has version %d (%v), want %d", got, err, v)
		}
		back, err := config.Parse(mustRead(t, file), file)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("/v%d/*", v); back.Routes.At(3).Match.Paths[0] != want {
			t.Fatalf("the file's r3 is %v, want %s", back.Routes.At(3).Match.Paths, want)
		}
	}
}

// A flush whose write fails says why, and returns: it tries once more, it
// does not wait for a change that would kick the writer.
func TestPersisterFlushReportsAFailedWrite(t *testing.T) {
	file := filepath.Join(t.TempDir(), "missing", "sluice.yaml")
	p := newPersister(file, func(string, ...any) {})
	defer p.close()
	p.want(manyRoutes(t, 5), 1)
	for range 3 {
		if err := p.flush(); err == nil || !os.IsNotExist(errors.Unwrap(err)) && !strings.Contains(err.Error(), "no such file") {
			t.Fatalf("flush into a missing directory: %v, want its error", err)
		}
	}
}

func mustRead(t *testing.T, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Once the writer has stopped, nothing starts a job on its thread, whose
// timers would then change the scheduling of whatever thread the kernel
// gives its id next: a flush or a change after close returns, and no job
// is due. (Before, either one panicked: it sent on the closed kick
// channel. The binary never flushed after closing, but nothing kept a
// caller from it.)
func TestNoWriteIsDueAfterClose(t *testing.T) {
	p := newPersister(filepath.Join(t.TempDir(), "sluice.yaml"), t.Logf)
	p.want(manyRoutes(t, 5), 1)
	if err := p.close(); err != nil {
		t.Fatal(err)
	}
	_ = p.flush()
	p.want(manyRoutes(t, 5), 2)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.due != nil || !p.kickClosed {
		t.Fatalf("after close: a job due %v, the writer's kick closed %v; want none due, closed", p.due != nil, p.kickClosed)
	}
}
