package harness

import (
	"fmt"
	"path/filepath"
)

// startVarnish renders conf/cache.vcl.tmpl and starts varnishd in the
// foreground on the proxy CPUs (the manager and its cache child inherit
// the mask; the harness counts both), with the bench's settings:
// one thread pool, a 64 MiB malloc store, clients kept 300 s, idle backend
// connections 3600 s. Varnish's shared-memory log (VSL) is always written;
// nothing reads it (no varnishncsa), as no peer writes an access log here.
func (r *Runner) startVarnish(name string, d TemplateData) (*Proc, error) {
	d.Dir, d.Name, d.UpstreamPort = r.dir, name, r.upPort
	vcl, err := RenderFile("cache.vcl.tmpl", name+".vcl", d)
	if err != nil {
		return nil, err
	}
	return r.sup.Start(StartOpts{Name: name, CPUs: r.cfg.ProxyCPUs, Argv: []string{
		"varnishd", "-F", "-a", fmt.Sprintf("127.0.0.1:%d", d.Port), "-f", vcl,
		"-n", filepath.Join(r.dir, name+"-work"), "-T", "none", "-s", "malloc,64m",
		"-p", "thread_pools=1", "-p", "timeout_idle=300", "-p", "backend_idle_timeout=3600",
	}})
}
