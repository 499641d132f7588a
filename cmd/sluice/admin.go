package main

import (
	"runtime/debug"

	"github.com/sluice-gw/sluice/admin"
	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
)

// startAdmin serves the admin listener (package admin: /metrics, /status,
// /upstreams) when the config has one (admin.listen, or the -status flag);
// nil when it has none. It is not moved by a reload: a changed
// admin section takes effect at the next start.
func startAdmin(cfg *config.Config, srv *engine.Server, rl *requestLogger) (*admin.Server, error) {
	if cfg.Admin.Listen == "" {
		return nil, nil
	}
	opts := admin.Options{Engine: srv, AllowRemote: cfg.Admin.AllowRemote, Version: buildVersion()}
	if rl != nil {
		opts.AccessLog = rl
	}
	a := admin.New(opts)
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

// buildVersion is the main module's version as the go command stamped it
// ("(devel)" for a build from a work tree).
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "devel"
}
