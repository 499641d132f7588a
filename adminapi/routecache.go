package adminapi

import (
	"bytes"
	"sync"

	"github.com/sluice-gw/sluice/config"
)

// routeJSON keeps each route's JSON by its revision (config.Rev), as the
// file writer keeps its YAML: encoding 10,000 routes through yaml.Node
// takes about a second, so GET /routes and GET /config after one change
// encode that one route and concatenate the others. Routes of revision 0
// (never validated) are encoded every time. Safe for concurrent use.
type routeJSON struct {
	mu    sync.Mutex
	byRev map[config.Rev][]byte
}

// list returns the JSON array of cfg's routes, and forgets the routes no
// longer in cfg (the running configuration: the cache follows it).
func (c *routeJSON) list(cfg *config.Config) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	kept := make(map[config.Rev][]byte, cfg.Routes.Len())
	items := make([][]byte, cfg.Routes.Len())
	size := 2
	for i, r := range cfg.Routes.All() {
		rev := cfg.RouteRev(i)
		item, ok := c.byRev[rev]
		if !ok || rev == 0 {
			var err error
			if item, err = config.EncodeJSON(r); err != nil {
				return nil, err
			}
		}
		if rev != 0 {
			kept[rev] = item
		}
		items[i] = item
		size += len(item) + 1
	}
	c.byRev = kept
	out := make([]byte, 0, size)
	out = append(out, '[')
	out = append(out, bytes.Join(items, []byte(","))...)
	return append(out, ']'), nil
}

// whole returns cfg as GET /config shows it: the rest encoded as usual,
// the routes from the cache, last.
func (c *routeJSON) whole(cfg *config.Config) ([]byte, error) {
	rest := *cfg
	rest.Routes = config.RouteList{}
	out, err := config.EncodeJSON(&rest)
	if err != nil || cfg.Routes.Len() == 0 {
		return out, err
	}
	routes, err := c.list(cfg)
	if err != nil {
		return nil, err
	}
	out = bytes.TrimSuffix(out, []byte("}"))
	if len(out) > 1 {
		out = append(out, ',')
	}
	out = append(out, `"routes":`...)
	out = append(out, routes...)
	return append(out, '}'), nil
}
