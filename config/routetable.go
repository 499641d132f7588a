package config

import "github.com/sluice-gw/sluice/router"

// RouterMatch converts m to the router's form.
func (m Match) RouterMatch() router.Match {
	return router.Match{Hosts: m.Hosts, Paths: m.Paths, Methods: m.Methods}
}

// RouteTable compiles the routes' matches into a router.Table whose route
// indexes are positions in c.Routes. On a Config that validated it cannot
// fail; the error is for one changed since.
func (c *Config) RouteTable() (*router.Table, error) {
	var b router.Builder
	for i, r := range c.Routes.All() {
		if err := b.Add(r.Match.RouterMatch(), i); err != nil {
			return nil, err
		}
	}
	return b.Build()
}
