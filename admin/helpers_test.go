package admin_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sluice-gw/sluice/admin"
	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/internal/freeport"
)

// startEngine runs a gateway for yml, where "{listen}" and "{upstream}"
// are replaced by its address and the address of a test upstream that
// answers "hello". It stops when the test ends.
func startEngine(t testing.TB, yml string) (*engine.Server, string) {
	t.Helper()
	return startEngineWith(t, yml, nil) // no policies: these configs have none
}

// startEngineWith is startEngine with the policy factory build
// (policies.Build).
func startEngineWith(t testing.TB, yml string, build engine.PolicyFactory) (*engine.Server, string) {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello")
	}))
	t.Cleanup(up.Close)
	addr := freeport.Addr(t)
	yml = strings.ReplaceAll(yml, "{listen}", addr)
	yml = strings.ReplaceAll(yml, "{upstream}", strings.TrimPrefix(up.URL, "http://"))
	cfg, err := config.Parse([]byte(yml), "test.yaml")
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	compiler := engine.NewCompiler(build)
	snap, err := compiler.Compile(cfg)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	srv, err := engine.NewServer(engine.Options{Listen: addr, Workers: cfg.Workers, Logf: t.Logf}, snap)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	select {
	case <-srv.Ready():
	case err := <-served:
		t.Fatalf("serve: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-served
		compiler.Close()
	})
	return srv, addr
}

// startAdmin serves opts on a free loopback port until the test ends.
func startAdmin(t testing.TB, opts admin.Options) (*admin.Server, string) {
	t.Helper()
	a := admin.New(opts)
	if err := a.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a, a.Addr().String()
}

// get fetches url and returns its body, failing on a status other than 200.
func get(t testing.TB, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v\n%s", url, resp.StatusCode, err, b)
	}
	return b
}

// parseMetrics parses a text exposition with Prometheus' own parser.
func parseMetrics(t testing.TB, text []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(text)))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, text)
	}
	return fams
}

// metricValue finds the counter, gauge or untyped value of family name
// whose labels include want (name, value, ...); ok false when none.
func metricValue(fams map[string]*dto.MetricFamily, name string, want ...string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		if !hasLabels(m, want) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

func hasLabels(m *dto.Metric, want []string) bool {
	for i := 0; i+1 < len(want); i += 2 {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == want[i] && l.GetValue() == want[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// promtool runs `promtool check metrics` on a scrape. A missing promtool
// skips the check, or fails it under CI=true (make test installs it:
// scripts/install-test-deps.sh).
func promtool(t *testing.T, scrape []byte) {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool not found (Debian package prometheus; scripts/install-test-deps.sh installs it)")
		}
		t.Skip("promtool not found; install the Debian package prometheus")
	}
	cmd := exec.Command(bin, "check", "metrics")
	cmd.Stdin = strings.NewReader(string(scrape))
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) || err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}
