package config

import (
	"iter"

	"go.yaml.in/yaml/v3"

	"github.com/sluice-gw/sluice/cow"
)

// RouteList is a configuration's routes, in order. Versions made by edits
// (edit.go) share the chunks of routes they did not change: replacing one
// route of 10,000 copies 256 pointers, not 10,000, and so leaves the
// collector a few kilobytes instead of 80 (package cow). The zero
// RouteList is empty.
//
// A RouteList is a value, never changed once made; the routes it points
// to are the Config's, and Validate fills their defaults in place. In YAML
// and JSON it is the list of routes.
type RouteList struct {
	l cow.List[*Route]
}

// Routes returns a RouteList of rs, in order.
func Routes(rs ...*Route) RouteList { return RouteList{cow.From(rs)} }

// Len is the number of routes.
func (l RouteList) Len() int { return l.l.Len() }

// At is route i, which must be below Len.
func (l RouteList) At(i int) *Route { return l.l.At(i) }

// All yields every route with its position, in order.
func (l RouteList) All() iter.Seq2[int, *Route] { return l.l.All() }

// Slice returns the routes in a new slice, nil when there are none.
func (l RouteList) Slice() []*Route { return l.l.Slice() }

// Append returns l with rs after its routes; l is unchanged.
func (l RouteList) Append(rs ...*Route) RouteList {
	e := cow.Edit(l.l)
	for _, r := range rs {
		e.Set(e.Len(), r)
	}
	return RouteList{e.List()}
}

// IsZero reports an empty list, for ",omitempty".
func (l RouteList) IsZero() bool { return l.l.Len() == 0 }

// MarshalYAML writes the routes as a YAML sequence.
func (l RouteList) MarshalYAML() (any, error) { return l.Slice(), nil }

// UnmarshalYAML reads a YAML sequence of routes, for yaml.v3's decoder;
// Parse decodes the list itself (decode.go), more strictly.
func (l *RouteList) UnmarshalYAML(n *yaml.Node) error {
	var routes []*Route
	if err := n.Decode(&routes); err != nil {
		return err
	}
	*l = Routes(routes...)
	return nil
}
