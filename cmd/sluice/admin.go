package main

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime/debug"
	"strings"

	"github.com/sluice-gw/sluice/admin"
	"github.com/sluice-gw/sluice/adminapi"
	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/discovery"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/fleet"
	"github.com/sluice-gw/sluice/lb"
	"github.com/sluice-gw/sluice/live"
	"github.com/sluice-gw/sluice/policies"
)

// tokenEnv is the environment variable holding the admin bearer token.
const tokenEnv = "SLUICE_ADMIN_TOKEN"

// minTokenLen refuses tokens short enough to guess.
const minTokenLen = 16

// adminServes is what the admin listener serves, for the -status flag's
// help and the start-up line: package admin's views and the Admin API
// that startAdmin adds to the same mux. (GET /upstreams is the Admin
// API's list of upstream configs; their health is /status/upstreams.)
const adminServes = "/metrics, /status, /status/upstreams and the Admin API"

// startAdmin serves the admin listener (package admin: /metrics, /status,
// /status/upstreams; package adminapi: the Admin API) when the config has
// one (admin.listen, or the -status flag); nil when it has none. It is not
// moved by a reload: a changed admin section takes effect at the next
// start.
func startAdmin(cfg *config.Config, srv *engine.Server, rl *requestLogger, store *live.Store, extra func() map[string]any, consul *consulCollector) (*admin.Server, error) {
	if cfg.Admin.Listen == "" {
		return nil, nil
	}
	token, err := adminToken(&cfg.Admin)
	if err != nil {
		return nil, err
	}
	if token == "" && !config.IsLoopback(cfg.Admin.Listen) {
		return nil, fmt.Errorf("%s is not a loopback address and no bearer token is set: set %s or admin.token_file", cfg.Admin.Listen, tokenEnv)
	}
	opts := admin.Options{Engine: srv, AllowRemote: cfg.Admin.AllowRemote, Version: buildVersion(), Persisted: store.Persisted, StatusExtra: extra}
	if rl != nil {
		opts.AccessLog = rl
	}
	if token != "" {
		opts.Wrap = func(h http.Handler) http.Handler { return adminapi.RequireToken(token, h) }
	}
	a := admin.New(opts)
	a.Registry().MustRegister(consul)
	adminapi.Register(a.Mux(), adminapi.Options{
		Store:         store,
		Authenticated: token != "",
		Schema:        policies.Schema,
		Policies:      policies.Schemas,
		Health: func(name string) (any, bool) {
			u := srv.Snapshot().Upstream(name)
			if u == nil {
				return lb.UpstreamStatus{}, false
			}
			return u.LB().Status(), true
		},
		Restart:     restartRequired,
		PurgeCache:  policies.PurgeCache,
		NoSuchCache: policies.ErrNoSuchCache,
	})
	inherited, err := inheritedAdminListener(cfg.Admin.Listen)
	if err != nil {
		return nil, err
	}
	if inherited != nil {
		if err := a.Serve(inherited); err != nil {
			inherited.Close()
			return nil, err
		}
		return a, nil
	}
	if err := a.Listen(cfg.Admin.Listen); err != nil {
		return nil, err
	}
	return a, nil
}

// adminToken reads the bearer token: $SLUICE_ADMIN_TOKEN, else
// admin.token_file, else none.
func adminToken(a *config.Admin) (string, error) {
	token, from := os.Getenv(tokenEnv), "$"+tokenEnv
	if token == "" && a.TokenFile != "" {
		data, err := os.ReadFile(a.TokenFile)
		if err != nil {
			return "", fmt.Errorf("admin.token_file: %w", err)
		}
		token, from = strings.TrimRight(string(data), "\r\n"), "admin.token_file"
	}
	if token != "" && len(token) < minTokenLen {
		return "", errors.New(from + ": the admin token must be at least 16 bytes long")
	}
	return token, nil
}

// restartRequired lists the changed fields this process reads only at
// start.
func restartRequired(running, next *config.Config) []string {
	var out []string
	check := func(field string, changed bool) {
		if changed {
			out = append(out, field)
		}
	}
	check("listen", running.Listen != next.Listen)
	check("workers", running.Workers != next.Workers)
	check("drain_timeout", running.DrainTimeout != next.DrainTimeout)
	check("admin", running.Admin != next.Admin)
	check("access_log", fmt.Sprintf("%+v", running.AccessLog) != fmt.Sprintf("%+v", next.AccessLog))
	check("trace", running.Trace != next.Trace)
	// The event log follows log_level at once; which requests the request
	// log writes is decided at start.
	check("log_level (the request log's)", running.LogLevel != next.LogLevel)
	return out
}

// statusExtra adds the Consul sources to /status: discovery's, and the
// fleet configuration's.
func statusExtra(disc *discovery.Manager, fs *fleet.Source) func() map[string]any {
	return func() map[string]any {
		m := map[string]any{}
		if st := disc.Status(); len(st.Sources) > 0 {
			m["discovery"] = st
		}
		if fs != nil {
			m["fleet"] = fs.Status()
		}
		return m
	}
}

// persistFile is where Admin API changes are written back: the config
// file, when there is one and an admin listener to make changes.
func persistFile(cfg *config.Config, file string) string {
	if cfg.Admin.Listen == "" {
		return ""
	}
	return file
}

// buildVersion is the main module's version as the go command stamped it
// ("(devel)" for a build from a work tree).
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "devel"
}
