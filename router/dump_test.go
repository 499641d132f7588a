package router

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// dumpTable writes out everything a Table holds, in a canonical order:
// groups, leaves, trie nodes (empty ones included, which a Build never
// makes), the bounds Lookup derives (maxWild, maxPrefix, segCounts) and
// each route's patterns. Two tables with the same dump answer every
// Lookup alike; the Update tests compare an updated table's dump with the
// dump of a table built afresh.
func dumpTable(t *Table) string {
	var b strings.Builder
	fmt.Fprintf(&b, "maxWild %d %v\n", t.maxWild, t.wildLens)
	for _, k := range slices.Sorted(maps.Keys(maps.Collect(t.exactHosts.all()))) {
		dumpGroup(&b, k, t.exactHosts.get(k))
	}
	for _, k := range slices.Sorted(maps.Keys(maps.Collect(t.wildHosts.all()))) {
		dumpGroup(&b, "*"+k, t.wildHosts.get(k))
	}
	if t.anyHost != nil {
		dumpGroup(&b, "*", t.anyHost)
	}
	dumpRoutes(&b, t.routes.root, t.routes.height, 0)
	return b.String()
}

func dumpGroup(b *strings.Builder, host string, g *group) {
	fmt.Fprintf(b, "host %q maxPrefix %d %v segCounts %b %v\n", host, g.maxPrefix, g.prefixLens, g.segCounts, g.paramLens)
	for _, k := range slices.Sorted(maps.Keys(maps.Collect(g.exact.all()))) {
		fmt.Fprintf(b, "  exact %q %s\n", k, dumpLeaf(g.exact.get(k)))
	}
	for _, k := range slices.Sorted(maps.Keys(maps.Collect(g.prefixes.all()))) {
		fmt.Fprintf(b, "  prefix %q %s\n", k, dumpLeaf(g.prefixes.get(k)))
	}
	if g.params != nil {
		dumpNode(b, g.params, "")
	}
}

func dumpNode(b *strings.Builder, n *node, path string) {
	fmt.Fprintf(b, "  node %q", path)
	if n.leaf != nil {
		b.WriteString(" " + dumpLeaf(n.leaf))
	}
	b.WriteByte('\n')
	children := maps.Collect(n.children.all())
	if n.child != nil {
		if len(children) > 0 {
			fmt.Fprintf(b, "  node %q has a child besides its map\n", path)
		}
		children[n.lit] = n.child
	}
	for _, k := range slices.Sorted(maps.Keys(children)) {
		dumpNode(b, children[k], path+"/"+k)
	}
	if n.param != nil {
		dumpNode(b, n.param, path+"/{}")
	}
}

func dumpLeaf(l *leaf) string {
	var parts []string
	if l.any.route >= 0 {
		parts = append(parts, fmt.Sprintf("any:%d%v", l.any.route, l.any.names))
	}
	for _, mt := range l.byMethod {
		parts = append(parts, fmt.Sprintf("%s:%d%v", mt.method, mt.route, mt.names))
	}
	slices.Sort(parts)
	return "[" + strings.Join(parts, " ") + "]"
}

// dumpRoutes writes the patterns of every route under n, whose first route
// is first, level levels above the bottom.
func dumpRoutes(b *strings.Builder, n *routeNode, level, first int) {
	if n == nil {
		return
	}
	if level == 0 {
		for i, entries := range n.entries {
			for _, e := range entries {
				fmt.Fprintf(b, "route %d %v", first+i, e.hosts)
				for _, p := range e.paths {
					b.WriteString(" " + p.raw)
				}
				fmt.Fprintf(b, " %v\n", e.methods)
			}
		}
		return
	}
	for i, kid := range n.kids {
		dumpRoutes(b, kid, level-1, first+i<<(routeBits*level))
	}
}
