package harness

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"text/template"

	"github.com/sluice-gw/sluice/bench"
)

// TemplateData is what bench/conf/*.tmpl see.
type TemplateData struct {
	Dir                string   // the run's temp dir (absolute)
	Name               string   // the peer's instance name: file prefixes
	Port               int      // where the peer listens (127.0.0.1)
	UpstreamPort       int      // the origin nginx
	Routes             []string // route prefixes, each ending in '/' ("/r0/")
	LimitCount         int64    // limit-count's count (never reached)
	LimitWindowSeconds int      // limit-count's fixed window
	NoFile             int      // the open-file limit every peer inherits
	MaxConn            int      // HAProxy's maxconn: what NoFile allows (2 descriptors per connection)
	AdminPort          int      // Sluice's admin listener (/metrics); 0 in templates without one
	RedisPort          int      // the run's redis-server (redislimit); 0 when none was started
	Consumers          []Consumer
}

// Consumer is one API consumer of the auth scenario: Sluice's consumers
// section and nginx+lua's key table are rendered from the same list.
type Consumer struct {
	Name string
	Key  string // 16+ visible ASCII bytes (Sluice's key_auth minimum)
}

var templates = template.Must(template.New("conf").ParseFS(bench.Conf, "conf/*.tmpl"))

// Render executes bench/conf/NAME with d and returns the text.
func Render(name string, d TemplateData) ([]byte, error) {
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, d); err != nil {
		return nil, fmt.Errorf("render %s: %w", name, err)
	}
	return buf.Bytes(), nil
}

// RenderFile renders bench/conf/NAME into d.Dir/out and returns its path.
func RenderFile(name, out string, d TemplateData) (string, error) {
	b, err := Render(name, d)
	if err != nil {
		return "", err
	}
	path := filepath.Join(d.Dir, out)
	return path, os.WriteFile(path, b, 0o644)
}

// WrkScript writes a wrk script to dir/name: the request mix (when paths
// has more than one entry or keys is not empty) followed by report.lua. A
// plain run gets report.lua alone, so wrk sends its one static request with
// no Lua call per request.
func WrkScript(dir, name string, paths, keys []string) (string, error) {
	var buf bytes.Buffer
	if len(paths) > 1 || len(keys) > 0 {
		buf.WriteString("local paths = {")
		for _, p := range paths {
			fmt.Fprintf(&buf, "%q,", p)
		}
		buf.WriteString("}\nlocal keys = {")
		for _, k := range keys {
			fmt.Fprintf(&buf, "%q,", k)
		}
		buf.WriteString("}\n")
		mix, err := fs.ReadFile(bench.Conf, "conf/wrk/mix.lua")
		if err != nil {
			return "", err
		}
		buf.Write(mix)
	}
	report, err := fs.ReadFile(bench.Conf, "conf/wrk/report.lua")
	if err != nil {
		return "", err
	}
	buf.Write(report)
	path := filepath.Join(dir, name)
	return path, os.WriteFile(path, buf.Bytes(), 0o644)
}

// RoutePrefixes returns "/r0/" ... "/r<n-1>/".
func RoutePrefixes(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("/r%d/", i)
	}
	return out
}
