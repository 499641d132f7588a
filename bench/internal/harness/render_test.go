package harness

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func testData(t *testing.T, name string) TemplateData {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, name+"-tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	return TemplateData{
		Dir: dir, Name: name, Port: 18080, UpstreamPort: 19090, Routes: RoutePrefixes(5),
		LimitCount: gatewayLimitCount, LimitWindowSeconds: gatewayLimitWindow, NoFile: 4096, MaxConn: 1948,
	}
}

// TestNginxTemplatesPassNginxT renders every nginx template and has nginx
// itself check it, so a template typo fails here rather than mid-bench.
func TestNginxTemplatesPassNginxT(t *testing.T) {
	if _, err := exec.LookPath("nginx"); err != nil {
		t.Skip("nginx not installed (bench/run.sh installs it)")
	}
	for _, tmpl := range []string{"upstream.nginx.conf.tmpl", "proxy.nginx.conf.tmpl", "gateway.nginx.conf.tmpl", "routes.nginx.conf.tmpl"} {
		t.Run(tmpl, func(t *testing.T) {
			if tmpl == "gateway.nginx.conf.tmpl" {
				if _, err := os.Stat("/usr/share/nginx/modules/ngx_http_lua_module.so"); err != nil {
					t.Skip("libnginx-mod-http-lua not installed")
				}
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

func TestHAProxyTemplatePassesHAProxyC(t *testing.T) {
	if _, err := exec.LookPath("haproxy"); err != nil {
		t.Skip("haproxy not installed (bench/run.sh installs it)")
	}
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

// sluiceConfig is the part of Sluice's YAML the bench depends on.
type sluiceConfig struct {
	Listen      string            `yaml:"listen"`
	Workers     int               `yaml:"workers"`
	SharedDicts map[string]string `yaml:"shared_dicts"`
	Upstreams   []struct {
		Name    string `yaml:"name"`
		Targets []struct {
			Addr string `yaml:"addr"`
		} `yaml:"targets"`
	} `yaml:"upstreams"`
	Routes []struct {
		Match struct {
			Paths []string `yaml:"paths"`
		} `yaml:"match"`
		Upstream string `yaml:"upstream"`
		Policies []struct {
			Name   string         `yaml:"name"`
			Config map[string]any `yaml:"config"`
		} `yaml:"policies"`
	} `yaml:"routes"`
}

func TestSluiceTemplatesAreTheAgreedYAML(t *testing.T) {
	d := testData(t, "s")
	b, err := Render("sluice-gateway.yaml.tmpl", d)
	if err != nil {
		t.Fatal(err)
	}
	var gw sluiceConfig
	if err := yaml.Unmarshal(b, &gw); err != nil {
		t.Fatalf("gateway YAML: %v\n%s", err, b)
	}
	if gw.Listen != "127.0.0.1:18080" || gw.Workers != 1 || gw.SharedDicts["limits"] != "10MiB" ||
		len(gw.Upstreams) != 1 || gw.Upstreams[0].Targets[0].Addr != "127.0.0.1:19090" {
		t.Fatalf("gateway config: %+v", gw)
	}
	if len(gw.Routes) != 1 || len(gw.Routes[0].Policies) != 2 {
		t.Fatalf("gateway routes: %+v", gw.Routes)
	}
	lc := gw.Routes[0].Policies[0]
	if lc.Name != "limit-count" || lc.Config["key"] != "header:X-Api-Key" || lc.Config["dict"] != "limits" ||
		lc.Config["window"] != "60s" || lc.Config["count"] != gatewayLimitCount {
		t.Fatalf("limit-count: %+v", lc)
	}
	if gw.Routes[0].Policies[1].Name != "headers" {
		t.Fatalf("second policy: %+v", gw.Routes[0].Policies[1])
	}

	d.Routes = RoutePrefixes(1000)
	b, err = Render("sluice-routes.yaml.tmpl", d)
	if err != nil {
		t.Fatal(err)
	}
	var rt sluiceConfig
	if err := yaml.Unmarshal(b, &rt); err != nil {
		t.Fatalf("routes YAML: %v", err)
	}
	if len(rt.Routes) != 1000 || rt.Routes[999].Match.Paths[0] != "/r999/*" || rt.Routes[0].Upstream != "up" {
		t.Fatalf("routes: %d, last %+v", len(rt.Routes), rt.Routes[len(rt.Routes)-1])
	}
}

// TestWrkScriptsDriveAServer runs wrk with the generated scripts against a
// local server and checks the request mix and the report line.
func TestWrkScriptsDriveAServer(t *testing.T) {
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Skip("wrk not installed (bench/run.sh installs it)")
	}
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
