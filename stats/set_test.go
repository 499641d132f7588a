package stats

import (
	"math"
	"strings"
	"testing"
	"unsafe"
)

func TestRegistrationRefusesBadMetrics(t *testing.T) {
	tests := []struct {
		name     string
		register func(s *Set)
		want     string
	}{
		{"empty name", func(s *Set) { s.Counter("", "h") }, "invalid metric name"},
		{"name with dash", func(s *Set) { s.Counter("a-b", "h") }, "invalid metric name"},
		{"name starting with digit", func(s *Set) { s.Gauge("1a", "h") }, "invalid metric name"},
		{"odd labels", func(s *Set) { s.Counter("a", "h", "class") }, "pairs"},
		{"bad label name", func(s *Set) { s.Counter("a", "h", "a:b", "x") }, "invalid label name"},
		{"same series twice", func(s *Set) { s.Counter("a", "h", "c", "1"); s.Counter("a", "h", "c", "1") }, "twice"},
		{"one name two kinds", func(s *Set) { s.Counter("a", "h"); s.Gauge("a", "h", "c", "1") }, "two kinds"},
		{"bad vec label", func(s *Set) { s.CounterVec("a", "h", "") }, "invalid label name"},
		{"NaN bound", func(s *Set) { s.Histogram("a", "h", []float64{1, math.NaN()}) }, "not finite"},
		{"decreasing bounds", func(s *Set) { s.Histogram("a", "h", []float64{2, 1}) }, "not increasing"},
		{"bounds equal in integer units", func(s *Set) { s.Histogram("a", "h", []float64{1.2, 1.7}) }, "not increasing"},
		{"after seal", func(s *Set) { s.Shard(0); s.Counter("late", "h") }, "after"},
		{"shard out of range", func(s *Set) { s.Shard(2) }, "Shard(2)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil || !strings.Contains(r.(string), tt.want) {
					t.Fatalf("panic %v, want one mentioning %q", r, tt.want)
				}
			}()
			tt.register(NewSet(2))
		})
	}
}

func TestDescsInRegistrationOrder(t *testing.T) {
	s := NewSet(1)
	c2 := s.Counter("sluice_responses_total", "Responses sent.", "class", "2xx")
	c5 := s.Counter("sluice_responses_total", "Responses sent.", "class", "5xx")
	g := s.Gauge("sluice_client_connections", "Client connections open.")
	h := s.DurationHistogram("sluice_upstream_seconds", "Upstream latency.", []float64{0.01, 0.1})
	v := s.CounterVec("sluice_route_requests_total", "Requests by route.", "route", "a", "b")
	d := s.Descs()
	want := []struct {
		kind Kind
		id   int
	}{{KindCounter, int(c2)}, {KindCounter, int(c5)}, {KindGauge, int(g)}, {KindHistogram, int(h)}, {KindCounterVec, int(v)}}
	if len(d) != len(want) {
		t.Fatalf("%d descs, want %d", len(d), len(want))
	}
	for i, w := range want {
		if d[i].Kind != w.kind || d[i].ID != w.id {
			t.Errorf("desc %d (%s): kind %d id %d, want %d %d", i, d[i].Name, d[i].Kind, d[i].ID, w.kind, w.id)
		}
	}
	if d[1].Labels[1] != "5xx" || !d[3].Duration || len(d[3].Bounds) != 2 || d[4].VecLabel != "route" || d[4].VecValues[1] != "b" {
		t.Errorf("descs lost their details: %+v", d)
	}
	if s.VecLen(v) != 2 {
		t.Errorf("VecLen %d, want 2 (one per value)", s.VecLen(v))
	}
}

// TestShardsShareNoCacheLine pins the padding: every worker's words are at
// least 128 bytes from any other shard's, and vector chunks start on
// 128-byte boundaries.
func TestShardsShareNoCacheLine(t *testing.T) {
	s := NewSet(4)
	s.Counter("a", "h")
	v := s.CounterVec("v", "h", "i")
	s.GrowVec(v, 100)
	type span struct{ lo, hi uintptr }
	var spans []span
	for _, sh := range s.shards {
		lo := uintptr(unsafe.Pointer(&sh.slots[0]))
		spans = append(spans, span{lo, lo + uintptr(len(sh.slots))*8})
		for _, c := range sh.vecs[v].Load().chunks {
			if p := uintptr(unsafe.Pointer(c)); p%128 != 0 {
				t.Errorf("chunk at %#x is not 128-byte aligned", p)
			}
		}
	}
	for i, a := range spans {
		for j, b := range spans {
			if i != j && a.lo < b.hi+128 && b.lo < a.hi+128 {
				t.Errorf("shards %d and %d are less than 128 bytes apart: %#x %#x", i, j, a, b)
			}
		}
	}
}
