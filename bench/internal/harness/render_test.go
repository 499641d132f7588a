package harness

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/policies"
)

func testData(t *testing.T, name string) TemplateData {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, name+"-tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	return TemplateData{
		Dir: dir, Name: name, Port: 18080, UpstreamPort: 19090, Routes: RoutePrefixes(5),
		LimitCount: gatewayLimitCount, LimitWindowSeconds: gatewayLimitWindow, NoFile: 4096, MaxConn: 1948,
		AdminPort: 18081, RedisPort: 16379, Consumers: authConsumers,
	}
}

// TestNginxTemplatesPassNginxT renders every nginx template and has nginx
// itself check it, so a template typo fails here rather than mid-bench.
func TestNginxTemplatesPassNginxT(t *testing.T) {
	requireTool(t, "nginx")
	for _, tmpl := range []string{"upstream.nginx.conf.tmpl", "proxy.nginx.conf.tmpl", "gateway.nginx.conf.tmpl", "routes.nginx.conf.tmpl", "auth.nginx.conf.tmpl", "redislimit.nginx.conf.tmpl", "cache.nginx.conf.tmpl", "aggregate.nginx.conf.tmpl"} {
		t.Run(tmpl, func(t *testing.T) {
			b, err := Render(tmpl, testData(t, "n"))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), "ngx_http_lua_module.so") {
				requireFile(t, "/usr/share/nginx/modules/ngx_http_lua_module.so", "libnginx-mod-http-lua")
			}
			d := testData(t, "n")
			conf, err := RenderFile(tmpl, "n.conf", d)
			if err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("nginx", "-t", "-p", d.Dir, "-c", conf, "-e", filepath.Join(d.Dir, "e.log")).CombinedOutput()
			if err != nil {
				t.Fatalf("nginx -t: %v\n%s", err, out)
			}
		})
	}
}

// TestVarnishVCLCompiles has varnishd compile the cache scenario's VCL.
func TestVarnishVCLCompiles(t *testing.T) {
	requireTool(t, "varnishd")
	d := testData(t, "v")
	// varnishd reads the VCL as its own unprivileged user.
	for _, dir := range []string{filepath.Dir(d.Dir), d.Dir} {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	vcl, err := RenderFile("cache.vcl.tmpl", "v.vcl", d)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("varnishd", "-C", "-f", vcl, "-n", filepath.Join(d.Dir, "work")).CombinedOutput(); err != nil {
		t.Fatalf("varnishd -C: %v\n%s", err, out)
	}
}

func TestHAProxyTemplatePassesHAProxyC(t *testing.T) {
	requireTool(t, "haproxy")
	d := testData(t, "h")
	cfg, err := RenderFile("haproxy.cfg.tmpl", "h.cfg", d)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("haproxy", "-c", "-f", cfg).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
}

// TestGatewayNginxKeepsUpstreamKeepAlive pins the bug where the location's
// own proxy_set_header dropped the inherited `Connection ""`, so nginx+lua
// opened one upstream connection per request.
func TestGatewayNginxKeepsUpstreamKeepAlive(t *testing.T) {
	b, err := Render("gateway.nginx.conf.tmpl", testData(t, "g"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	loc := s[strings.Index(s, "location / {"):]
	if !strings.Contains(loc, `proxy_set_header Connection "";`) || !strings.Contains(loc, "proxy_set_header X-Gateway sluice;") {
		t.Fatalf("the gateway location must set both Connection \"\" and X-Gateway:\n%s", loc)
	}
}

func TestNginxRoutesTemplateHasEveryRoute(t *testing.T) {
	d := testData(t, "r")
	d.Routes = RoutePrefixes(1000)
	b, err := Render("routes.nginx.conf.tmpl", d)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "proxy_pass http://up;"); n != 1000 {
		t.Fatalf("%d locations, want 1000", n)
	}
	if !strings.Contains(string(b), "location /r999/ {") {
		t.Fatal("last route missing")
	}
}

// TestSluiceTemplatesParseAsSluiceConfig loads the rendered Sluice configs
// with Sluice's own config package and compiles them with the built-in
// policies, as `sluice validate` does, so a model or policy change that
// breaks them fails here instead of making the bench skip Sluice.
func TestSluiceTemplatesParseAsSluiceConfig(t *testing.T) {
	d := testData(t, "s")
	d.Routes = RoutePrefixes(1000)
	for _, tmpl := range sluiceTemplateNames() {
		t.Run(tmpl, func(t *testing.T) {
			b, err := Render(tmpl, d)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Parse(b, tmpl)
			if err != nil {
				t.Fatalf("%v\n%s", err, b)
			}
			if cfg.Listen != "127.0.0.1:18080" || cfg.Workers != 1 || len(cfg.Upstreams) != 1 {
				t.Fatalf("listen %q workers %d upstreams %d", cfg.Listen, cfg.Workers, len(cfg.Upstreams))
			}
			up := cfg.Upstreams[0]
			if up.Targets[0].Addr != "127.0.0.1:19090" || up.Pool.MaxIdle != 1024 || up.Pool.MaxRequests != -1 {
				t.Fatalf("upstream %+v: the bench's keep-alive settings are lost", up)
			}
			switch tmpl {
			case "sluice-gateway.yaml.tmpl":
				if cfg.Routes.Len() != 1 || len(cfg.Routes.At(0).Policies) != 2 ||
					cfg.Routes.At(0).Policies[0].Name != "limit-count" || cfg.Routes.At(0).Policies[1].Name != "headers" {
					t.Fatalf("gateway routes: %+v", cfg.Routes)
				}
				if _, ok := cfg.SharedDicts["limits"]; !ok {
					t.Fatal("no shared dict limits")
				}
			case "sluice-auth.yaml.tmpl":
				if len(cfg.Consumers) != len(authConsumers) || cfg.Admin.Listen != "127.0.0.1:18081" || cfg.AccessLog == nil {
					t.Fatalf("auth: %d consumers, admin %q, access log %v", len(cfg.Consumers), cfg.Admin.Listen, cfg.AccessLog)
				}
				wantPolicies(t, cfg.Routes.At(0).Policies, "request-id", "key-auth", "limit-count")
			case "sluice-redislimit.yaml.tmpl":
				if cfg.Redis == nil || cfg.Redis.Addresses[0] != "127.0.0.1:16379" {
					t.Fatalf("redis section: %+v", cfg.Redis)
				}
				wantPolicies(t, cfg.Routes.At(0).Policies, "limit-count")
			case "sluice-cache.yaml.tmpl":
				wantPolicies(t, cfg.Routes.At(0).Policies, "cache")
			case "sluice-aggregate.yaml.tmpl":
				wantPolicies(t, cfg.Routes.At(0).Policies, "aggregate")
			case "sluice-obs.yaml.tmpl":
				if cfg.Admin.Listen != "127.0.0.1:18081" || cfg.AccessLog == nil || cfg.Routes.Len() != 1 {
					t.Fatalf("obs: admin %q, access log %v, %d routes", cfg.Admin.Listen, cfg.AccessLog, cfg.Routes.Len())
				}
			case "sluice-scrape.yaml.tmpl":
				// The catch-all first (numbered within the route-series
				// cap), then every prefix route, stripping its prefix.
				if cfg.Admin.Listen != "127.0.0.1:18081" || cfg.Routes.Len() != 1001 ||
					cfg.Routes.At(0).Match.Paths[0] != "/*" || cfg.Routes.At(0).StripPrefix ||
					cfg.Routes.At(1000).Match.Paths[0] != "/r999/*" || !cfg.Routes.At(1000).StripPrefix {
					t.Fatalf("scrape: admin %q, routes %d: %+v", cfg.Admin.Listen, cfg.Routes.Len(), cfg.Routes.Slice()[:2])
				}
			case "sluice-routes.yaml.tmpl":
				if cfg.Routes.Len() != 1000 || cfg.Routes.At(999).Match.Paths[0] != "/r999/*" {
					t.Fatalf("routes: %d", cfg.Routes.Len())
				}
			}
			c := engine.NewCompiler(policies.Build)
			defer c.Close()
			if _, err := c.Compile(cfg); err != nil {
				t.Fatalf("compile: %v\n%s", err, b)
			}
		})
	}
}

// TestRedisLimitNginxSendsSluicesScript pins nginx+lua's Redis script to
// the text of Sluice's (limitCountLua in policies/limitcount.go), so the
// redislimit cell keeps comparing the same work in Redis.
func TestRedisLimitNginxSendsSluicesScript(t *testing.T) {
	src, err := os.ReadFile("../../../policies/limitcount.go")
	if err != nil {
		t.Fatal(err)
	}
	s := string(src)
	const open = "const limitCountLua = `"
	i := strings.Index(s, open)
	if i < 0 {
		t.Fatal("limitCountLua not found in policies/limitcount.go")
	}
	script := s[i+len(open):]
	script = script[:strings.Index(script, "`")]
	b, err := Render("redislimit.nginx.conf.tmpl", testData(t, "rl"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "[==["+script+"]==]") {
		t.Fatalf("redislimit.nginx.conf.tmpl does not carry Sluice's limit-count script:\n%s", script)
	}
}

// sluiceTemplateNames is every Sluice bench config, once, sorted.
func sluiceTemplateNames() []string {
	seen := map[string]bool{}
	var out []string
	for _, tmpl := range sluiceTemplates {
		if !seen[tmpl] {
			seen[tmpl] = true
			out = append(out, tmpl)
		}
	}
	sort.Strings(out)
	return out
}

func wantPolicies(t *testing.T, got []config.PolicySpec, names ...string) {
	t.Helper()
	if len(got) != len(names) {
		t.Fatalf("%d policies, want %v", len(got), names)
	}
	for i, n := range names {
		if got[i].Name != n {
			t.Fatalf("policy %d is %q, want %q", i, got[i].Name, n)
		}
	}
}

// TestWrkScriptsDriveAServer runs wrk with the generated scripts against a
// local server and checks the request mix and the report line.
func TestWrkScriptsDriveAServer(t *testing.T) {
	requireTool(t, "wrk")
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.URL.Path+" "+r.Header.Get("X-Api-Key")]++
		mu.Unlock()
		_, _ = w.Write([]byte("Hello, World!"))
	}))
	defer srv.Close()
	seenCount := func(k string) int {
		mu.Lock()
		defer mu.Unlock()
		return seen[k]
	}
	dir := t.TempDir()

	paths := []string{"/r0/x", "/r1/x", "/r2/x"}
	keys := []string{"k1", "k2"}
	script, err := WrkScript(dir, "mix.lua", paths, keys)
	if err != nil {
		t.Fatal(err)
	}
	rep, out, err := RunWrk(context.Background(), WrkSpec{URL: srv.URL + "/", Conns: 2, Threads: 1, Duration: time.Second, Script: script})
	if err != nil {
		t.Fatalf("wrk: %v\n%s", err, out)
	}
	if rep.Requests == 0 || rep.Errors() != 0 {
		t.Fatalf("report %+v", rep)
	}
	// Paths and keys cycle together over the prebuilt requests.
	for _, want := range []string{"/r0/x k1", "/r1/x k2", "/r2/x k1"} {
		if seenCount(want) == 0 {
			t.Fatalf("no request %q; saw %v", want, seen)
		}
	}

	// The gateway shape: one path, more keys than paths.
	gateway, err := WrkScript(dir, "gateway.lua", []string{"/"}, []string{"ka", "kb", "kc"})
	if err != nil {
		t.Fatal(err)
	}
	if _, out, err := RunWrk(context.Background(), WrkSpec{URL: srv.URL + "/", Conns: 2, Threads: 1, Duration: time.Second, Script: gateway}); err != nil {
		t.Fatalf("wrk: %v\n%s", err, out)
	}
	for _, want := range []string{"/ ka", "/ kb", "/ kc"} {
		if seenCount(want) == 0 {
			t.Fatalf("no request %q; saw %v", want, seen)
		}
	}

	plain, err := WrkScript(dir, "plain.lua", []string{"/"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(plain); strings.Contains(string(b), "request =") {
		t.Fatal("the plain script must not define request(): wrk would call Lua per request")
	}
}
