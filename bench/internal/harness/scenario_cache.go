package harness

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// cachePath is the cacheable object the upstream serves (1 KiB of JSON,
// Cache-Control: public, max-age=3600).
const cachePath = "/cache/item.json"

// writeCacheItem writes the cache scenario's object into dir/item.json: a
// JSON object of 1,024 bytes.
func writeCacheItem(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var b bytes.Buffer
	b.WriteString(`{"id":42,"items":[`)
	for i := 0; b.Len() < 1024-40; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"sku":"sku-%04d","qty":%d}`, i, i%7)
	}
	b.WriteString(`],"pad":"`)
	for b.Len() < 1024-2 {
		b.WriteByte('x')
	}
	b.WriteString(`"}`)
	return os.WriteFile(filepath.Join(dir, "item.json"), b.Bytes(), 0o644)
}

// runCache is issue 16's cell: Sluice's cache policy (L1) against nginx's
// proxy_cache and Varnish, every request a hit after the first.
func (r *Runner) runCache(ctx context.Context) (*Cell, error) {
	want, err := os.ReadFile(filepath.Join(r.dir, "www", "cache", "item.json"))
	if err != nil {
		return nil, err
	}
	conns := r.cfg.Conns[0]
	cell := &Cell{Scenario: "cache", Name: fmt.Sprintf("hits of a 1 KiB JSON object, %d conns", conns), Conns: conns, Body: "1k", Reference: "nginx"}
	return r.runCheckedCell(ctx, cell, []string{kindSluiceCache, kindNginxCache, kindVarnish}, cachePath, nil, nil,
		func(p *Peer) []string { return r.checkCache(p, want) })
}

// checkCache verifies that a peer answers the object from its cache: the
// body is the upstream's, X-Cache-Status says HIT, and 20 requests reach
// the upstream not once.
func (r *Runner) checkCache(p *Peer, want []byte) []string {
	var problems []string
	// The peer's start-up request filled the entry.
	up0, err := r.UpstreamStatus()
	if err != nil {
		return []string{err.Error()}
	}
	for i := range 20 {
		body, h, err := httpGet(p.URL(cachePath), nil)
		if err != nil {
			return append(problems, fmt.Sprintf("request %d: %v", i, err))
		}
		if i == 0 {
			if !bytes.Equal(body, want) {
				problems = append(problems, fmt.Sprintf("body is %d bytes, not the upstream's %d", len(body), len(want)))
			}
			if st := h.Get("X-Cache-Status"); !strings.EqualFold(st, "HIT") {
				problems = append(problems, fmt.Sprintf("X-Cache-Status %q, want HIT", st))
			}
		}
	}
	up1, err := r.UpstreamStatus()
	if err != nil {
		return append(problems, err.Error())
	}
	if n := up1.Requests - up0.Requests - 1; n != 0 {
		problems = append(problems, fmt.Sprintf("the upstream served %d of 20 requests, want 0 (all hits)", n))
	}
	return problems
}
