package live

import (
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
	if len(back.Routes) != n || back.Routes[7].Match.Paths[0] != "/seven/*" {
		t.Fatalf("the file does not hold the change: %d routes, r7 %v", len(back.Routes), back.Routes[7].Match.Paths)
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
