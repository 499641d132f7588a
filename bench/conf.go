// Package bench holds the end-to-end load harness of Sluice: the config
// templates of its peers (nginx, nginx with lua-nginx-module, HAProxy and
// Sluice itself) and the wrk scripts, embedded so the harness binary needs no
// files beside it. The harness lives in bench/internal/harness; its commands
// are bench/cmd/e2e (the runner behind `make bench`), bench/cmd/goproxy (the
// net/http/httputil.ReverseProxy peer) and bench/cmd/idleconns (the idle
// keep-alive connection holder).
package bench

import "embed"

// Conf holds bench/conf: *.tmpl are text/template files rendered into the
// run's temp dir; wrk/*.lua are wrk scripts. It is read-only and safe for
// concurrent use.
//
//go:embed conf/*.tmpl conf/wrk/*.lua
var Conf embed.FS
