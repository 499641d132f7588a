package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/sluice-gw/sluice/internal/freeport"
)

// Peer is one running proxy under test.
type Peer struct {
	Name    string // row label: sluice, nginx, haproxy, goproxy, nginx+lua
	Proc    *Proc
	Port    int
	VarsURL string // expvar /debug/vars with memstats.Mallocs; "" when the peer has none
	// MetricsURL is a Prometheus /metrics page with go_memstats_mallocs_total
	// (Sluice with an admin listener); "" when the peer has none.
	MetricsURL string
	// AccessLog is the file the peer writes its access log to; "" for none.
	AccessLog string
	// AdminURL is Sluice's admin listener ("http://127.0.0.1:PORT") when it
	// runs one; MetricsURL is set only where allocations are read from it.
	AdminURL string
	// Beside, when set, is a client measure runs beside wrk in every
	// measured run of this peer (the scrape scenario's scraper and control).
	Beside *BesideClient
}

// URL returns the peer's base URL plus path.
func (p *Peer) URL(path string) string { return fmt.Sprintf("http://127.0.0.1:%d%s", p.Port, path) }

// Peer kinds: what a scenario asks startPeer for.
const (
	kindSluice        = "sluice"
	kindNginx         = "nginx"
	kindHAProxy       = "haproxy"
	kindGoproxy       = "goproxy"
	kindSluiceGateway = "sluice-gateway"
	kindNginxLua      = "nginx-lua"
	kindSluiceRoutes  = "sluice-routes"
	kindNginxRoutes   = "nginx-routes"
	kindSluice1Route  = "sluice-1route" // the plain config, beside the 1,000-route one
	kindNginx1Route   = "nginx-1route"
	kindSluiceAuth    = "sluice-auth"
	kindNginxLuaAuth  = "nginx-lua-auth"
	kindSluiceRedis   = "sluice-redislimit"
	kindNginxLuaRedis = "nginx-lua-redislimit"
	kindSluiceCache   = "sluice-cache"
	kindNginxCache    = "nginx-cache"
	kindVarnish       = "varnish"
	kindSluiceAgg     = "sluice-aggregate"
	kindNginxLuaAgg   = "nginx-lua-aggregate"
	kindSluiceObs     = "sluice-obs"    // the plain config plus /metrics and a JSON access log
	kindSluiceScrape  = "sluice-scrape" // 10,000 routes, the admin listener on
)

// sluiceTemplates is the bench config of each Sluice kind; a kind in it is
// a Sluice peer (skipped, not fatal, when it cannot start).
var sluiceTemplates = map[string]string{
	kindSluice:        "sluice-plain.yaml.tmpl",
	kindSluice1Route:  "sluice-plain.yaml.tmpl",
	kindSluiceGateway: "sluice-gateway.yaml.tmpl",
	kindSluiceRoutes:  "sluice-routes.yaml.tmpl",
	kindSluiceAuth:    "sluice-auth.yaml.tmpl",
	kindSluiceRedis:   "sluice-redislimit.yaml.tmpl",
	kindSluiceCache:   "sluice-cache.yaml.tmpl",
	kindSluiceAgg:     "sluice-aggregate.yaml.tmpl",
	kindSluiceObs:     "sluice-obs.yaml.tmpl",
	kindSluiceScrape:  "sluice-scrape.yaml.tmpl",
}

// nginxTemplates is the config of each nginx kind.
var nginxTemplates = map[string]string{
	kindNginx:         "proxy.nginx.conf.tmpl",
	kindNginx1Route:   "proxy.nginx.conf.tmpl",
	kindNginxLua:      "gateway.nginx.conf.tmpl",
	kindNginxRoutes:   "routes.nginx.conf.tmpl",
	kindNginxLuaAuth:  "auth.nginx.conf.tmpl",
	kindNginxLuaRedis: "redislimit.nginx.conf.tmpl",
	kindNginxCache:    "cache.nginx.conf.tmpl",
	kindNginxLuaAgg:   "aggregate.nginx.conf.tmpl",
}

// peerLabel is the table row of each kind.
var peerLabel = map[string]string{
	kindSluice: "sluice", kindNginx: "nginx", kindHAProxy: "haproxy", kindGoproxy: "goproxy",
	kindSluiceGateway: "sluice", kindNginxLua: "nginx+lua",
	kindSluiceRoutes: "sluice", kindNginxRoutes: "nginx",
	kindSluice1Route: "sluice, 1 route", kindNginx1Route: "nginx, 1 location",
	kindSluiceAuth: "sluice", kindNginxLuaAuth: "nginx+lua",
	kindSluiceRedis: "sluice", kindNginxLuaRedis: "nginx+lua",
	kindSluiceCache: "sluice", kindNginxCache: "nginx", kindVarnish: "varnish",
	kindSluiceAgg: "sluice", kindNginxLuaAgg: "nginx+lua",
	kindSluiceObs: "sluice+obs", kindSluiceScrape: "sluice",
}

// Limit-count settings shared by Sluice's and nginx+lua's gateway configs:
// a fixed window whose count is never reached.
const (
	gatewayLimitCount  = 1_000_000_000
	gatewayLimitWindow = 60
)

// startPeer starts one proxy of the given kind on a free port, pinned to the
// proxy CPUs, and waits until a request through it reaches the upstream.
// checkPath and checkHeader make that first request. A Sluice peer that
// cannot start is recorded in r.skipped and returned as (nil, nil) so the
// scenario goes on without it; any other peer failing is an error.
func (r *Runner) startPeer(ctx context.Context, kind, checkPath string, checkHeader map[string]string) (*Peer, error) {
	port, err := freeport.Port()
	if err != nil {
		return nil, err
	}
	instance := kind + "-" + strconv.Itoa(port)
	d := TemplateData{Port: port, LimitCount: gatewayLimitCount, LimitWindowSeconds: gatewayLimitWindow,
		NoFile: r.noFile, MaxConn: max(256, (r.noFile-200)/2), RedisPort: r.redisPort, Consumers: authConsumers}
	peer := &Peer{Name: peerLabel[kind], Port: port}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	upstream := fmt.Sprintf("127.0.0.1:%d", r.upPort)
	_, isSluice := sluiceTemplates[kind]

	if isSluice {
		if why, ok := r.skipped[kind]; ok {
			r.logf("%s: skipped (%s)", kind, why)
			return nil, nil
		}
		if r.cfg.SluiceUnavailable != "" {
			r.skip(kind, r.cfg.SluiceUnavailable)
			return nil, nil
		}
		if _, err := os.Stat(r.cfg.SluiceBin); err != nil {
			r.skip(kind, fmt.Sprintf("%s not built (make build): %v", r.cfg.SluiceBin, err))
			return nil, nil
		}
	}

	var p *Proc
	switch kind {
	case kindNginx, kindNginx1Route, kindNginxLua, kindNginxRoutes, kindNginxLuaAuth, kindNginxLuaRedis, kindNginxCache, kindNginxLuaAgg:
		if kind == kindNginxRoutes {
			d.Routes = RoutePrefixes(r.cfg.Routes)
		}
		p, err = r.startNginx(instance, nginxTemplates[kind], d, r.cfg.ProxyCPUs)
	case kindHAProxy:
		d.Dir, d.Name, d.UpstreamPort = r.dir, instance, r.upPort
		var cfgPath string
		if cfgPath, err = RenderFile("haproxy.cfg.tmpl", instance+".haproxy.cfg", d); err == nil {
			p, err = r.sup.Start(StartOpts{Name: instance, CPUs: r.cfg.ProxyCPUs, Argv: []string{"haproxy", "-db", "-f", cfgPath}})
		}
	case kindVarnish:
		p, err = r.startVarnish(instance, d)
	case kindGoproxy:
		var adminPort int
		if adminPort, err = freeport.Port(); err == nil {
			peer.VarsURL = fmt.Sprintf("http://127.0.0.1:%d/debug/vars", adminPort)
			p, err = r.sup.Start(StartOpts{Name: instance, CPUs: r.cfg.ProxyCPUs, Argv: []string{
				r.cfg.GoproxyBin, "-listen", addr, "-to", upstream, "-admin", fmt.Sprintf("127.0.0.1:%d", adminPort)}})
		}
	case kindSluice, kindSluiceGateway, kindSluiceRoutes, kindSluice1Route, kindSluiceAuth, kindSluiceRedis, kindSluiceCache, kindSluiceAgg,
		kindSluiceObs, kindSluiceScrape:
		if kind == kindSluice && r.cfg.SluiceOneLiner {
			p, err = r.sup.Start(StartOpts{Name: instance, CPUs: r.cfg.ProxyCPUs, Argv: []string{
				r.cfg.SluiceBin, "proxy", "--listen", addr, "--to", upstream, "--workers", "1",
				"--pool-max-idle", "1024", "--pool-idle-timeout", "3600s"}})
			break
		}
		switch kind {
		case kindSluiceRoutes:
			d.Routes = RoutePrefixes(r.cfg.Routes)
		case kindSluiceScrape:
			// The catch-all is one of the ScrapeRoutes routes.
			d.Routes = RoutePrefixes(r.cfg.ScrapeRoutes - 1)
		}
		if kind == kindSluiceAuth || kind == kindSluiceObs || kind == kindSluiceScrape {
			if d.AdminPort, err = freeport.Port(); err != nil {
				break
			}
			peer.AdminURL = fmt.Sprintf("http://127.0.0.1:%d", d.AdminPort)
		}
		if kind == kindSluiceAuth {
			// The auth scenario reports allocations per request from
			// /metrics. The obs and scrape scenarios do not: what a
			// scrape costs is their subject, so the harness makes none of
			// its own around their runs.
			peer.MetricsURL = peer.AdminURL + "/metrics"
		}
		d.Dir, d.Name, d.UpstreamPort = r.dir, instance, r.upPort
		var cfgPath string
		if cfgPath, err = RenderFile(sluiceTemplates[kind], instance+".yaml", d); err == nil {
			p, err = r.sup.Start(StartOpts{Name: instance, CPUs: r.cfg.ProxyCPUs, Argv: []string{r.cfg.SluiceBin, "-c", cfgPath}})
		}
	default:
		return nil, fmt.Errorf("%w: %s", ErrUnknownPeer, kind)
	}
	if err != nil {
		if isSluice {
			r.skip(kind, err.Error())
			return nil, nil
		}
		return nil, fmt.Errorf("%s: %w", kind, err)
	}
	peer.Proc = p
	if kind == kindSluiceAuth || kind == kindNginxLuaAuth || kind == kindSluiceObs {
		peer.AccessLog = filepath.Join(r.dir, instance+".access.log")
	}
	if err := waitReady(ctx, p, peer.URL(checkPath), checkHeader, 15*time.Second); err != nil {
		p.Stop(3 * time.Second)
		tail := p.Failure() + " (full log: " + r.keepLog(p) + ")"
		r.sup.Forget(p)
		if errors.Is(err, context.Canceled) {
			return nil, err
		}
		if isSluice {
			r.skip(kind, fmt.Sprintf("did not start: %v; log: %s", err, tail))
			return nil, nil
		}
		return nil, fmt.Errorf("%s: %w; log: %s", kind, err, tail)
	}
	r.logf("%s (%s) on %s, pid %d, cpus %s", peer.Name, kind, addr, p.PID(), r.cfg.ProxyCPUs)
	return peer, nil
}

// skip records why a Sluice kind is left out; later scenarios asking for the
// same kind skip it at once instead of waiting for it again.
func (r *Runner) skip(kind, why string) {
	r.skipped[kind] = why
	r.logf("SKIP %s: %s", kind, why)
}

// keepLog copies a failed process's log next to the results (the temp dir
// is removed at the end) and returns the copy's path.
func (r *Runner) keepLog(p *Proc) string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return p.LogPath
	}
	if err := os.MkdirAll(r.cfg.OutDir, 0o755); err != nil {
		return p.LogPath
	}
	dst := filepath.Join(r.cfg.OutDir, fmt.Sprintf("failed-%s-%s.log", p.Name, time.Now().UTC().Format("20060102-150405")))
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		return p.LogPath
	}
	return dst
}

// stopPeer stops a peer and forgets it.
func (r *Runner) stopPeer(p *Peer) {
	if p == nil {
		return
	}
	p.Proc.Stop(5 * time.Second)
	r.sup.Forget(p.Proc)
}
