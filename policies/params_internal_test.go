package policies

import (
	"testing"
	"time"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/shm"
)

// Handler-level benchmarks, without sockets: the params check of a query
// and the L1 lookup and decoding of a cache hit (the parts the policies
// add to a request; the end-to-end ones are in *_bench_test.go).

func internalSpec(tb testing.TB, policy string) config.PolicySpec {
	tb.Helper()
	cfg, err := config.Parse([]byte("routes:\n  - match: { paths: [\"/*\"] }\n    policies:\n      - "+policy+"\n"), "p.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	return cfg.Routes.At(0).Policies[0]
}

func benchParams(tb testing.TB) *params {
	spec := internalSpec(tb, `{ name: params, config: { params: [ { name: id, type: number, integer: true, min: 1, max: 1000000, required: true }, { name: sort, enum: [asc, desc], default: asc }, { name: q, max_length: 64, pattern: "^[a-z0-9 ]*$" } ] } }`)
	pol, err := newParams(spec, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return pol.(*params)
}

func BenchmarkParamsCheckQuery(b *testing.B) {
	p := benchParams(b)
	for _, bc := range []struct{ name, query string }{
		{"valid", "id=42&sort=desc&q=red+shoes"},
		{"undeclared", "id=42&sort=desc&q=red+shoes&debug=1&x=2"},
		{"refused", "id=0&sort=up&q=RED"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			q := []byte(bc.query)
			pv := p.acquire(0)
			b.ReportAllocs()
			for b.Loop() {
				pv.reset()
				pv.collectQuery(q)
				pv.finish()
				if len(pv.fails) > 0 {
					pv.out = pv.appendRefusal(pv.out[:0], []byte("req-1"))
				}
			}
		})
	}
}

func TestParamsCheckQueryAllocatesNothing(t *testing.T) {
	p := benchParams(t)
	pv := p.acquire(0)
	q := []byte("id=42&sort=desc&q=red+shoes&debug=1")
	n := testing.AllocsPerRun(1000, func() {
		pv.reset()
		pv.collectQuery(q)
		pv.finish()
	})
	if n != 0 {
		t.Fatalf("%v allocations per check", n)
	}
	if len(pv.fails) != 0 || !pv.dropped {
		t.Fatalf("fails %v, dropped %v", pv.fails, pv.dropped)
	}
}

func BenchmarkCacheL1Lookup(b *testing.B) {
	d, err := shm.New(16 << 20)
	if err != nil {
		b.Fatal(err)
	}
	body := make([]byte, 1024)
	now := time.Now().UnixNano()
	entry := appendCacheHead(nil, 200, now, now+int64(time.Hour), now+int64(time.Hour))
	entry = append(entry, "Content-Type: application/json\r\n"...)
	finishCacheFields(entry, 0)
	entry = append(entry, body...)
	key := []byte("c1|route:api/cache|GET||api.example.com/api/v1/items?id=42")
	if err := d.Set(key, shm.BytesValue(entry), time.Hour); err != nil {
		b.Fatal(err)
	}
	var buf []byte
	b.ReportAllocs()
	b.SetBytes(int64(len(entry)))
	for b.Loop() {
		v, stale, ok := d.GetStale(key, buf[:0])
		buf = v.Bytes
		e, err := decodeCacheEntry(buf)
		if !ok || stale || err != nil || len(e.body) != 1024 {
			b.Fatal("miss")
		}
	}
}

func benchParamsJSON(tb testing.TB) *params {
	spec := internalSpec(tb, `{ name: params, config: { params: [ { name: id, in: body, type: number, integer: true, required: true }, { name: name, in: body, max_length: 64 }, { name: tags, in: body, type: list, max_items: 10 }, { name: meta, in: body, type: object } ] } }`)
	pol, err := newParams(spec, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return pol.(*params)
}

const paramsJSONBody = `{"id":42,"name":"caf\u00e9 \"au lait\"","tags":["a","b",3],"meta":{"k":[1,{"x":null}]},"debug":true}`

// TestParamsCheckJSONAllocatesNothing: a JSON body is checked, and the
// forwarded object (the undeclared member removed) written, without
// allocating once the buffers are warm.
func TestParamsCheckJSONAllocatesNothing(t *testing.T) {
	p := benchParamsJSON(t)
	pv := p.acquire(0)
	body := []byte(paramsJSONBody)
	n := testing.AllocsPerRun(1000, func() {
		pv.reset()
		pv.collectJSON(body)
		pv.finish()
		pv.extra = pv.appendJSONBody(pv.extra[:0], body)
	})
	if n != 0 {
		t.Fatalf("%v allocations per check", n)
	}
	if len(pv.fails) != 0 || !pv.bodyDrop || string(pv.extra) != `{"id":42,"name":"caf\u00e9 \"au lait\"","tags":["a","b",3],"meta":{"k":[1,{"x":null}]}}` {
		t.Fatalf("fails %v, forwarded %s", pv.fails, pv.extra)
	}
	if v, _ := pv.Get("name"); string(v) != `café "au lait"` {
		t.Fatalf("name %q", v)
	}
}

func BenchmarkParamsCheckJSON(b *testing.B) {
	p := benchParamsJSON(b)
	pv := p.acquire(0)
	body := []byte(paramsJSONBody)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		pv.reset()
		pv.collectJSON(body)
		pv.finish()
		pv.extra = pv.appendJSONBody(pv.extra[:0], body)
	}
}

// The entries contentTypeEntry accepts, as the params matcher reads them
// (the same forms as cache's content_types).
func TestParamsContentTypeEntriesMatch(t *testing.T) {
	for _, tc := range []struct {
		entry, ct string
		want      bool
	}{
		{"image/png", "image/png", true},
		{" Image/PNG ", "IMAGE/png; q=1", true},
		{"image/png", "image/jpeg", false},
		{"image/*", "image/jpeg", true},
		{"image/*", "text/plain", false},
		{"+json", "application/problem+json", true},
		{"+json", "application/json", false},
		{"+json", "not a type", false},
	} {
		a, err := contentTypeEntry(tc.entry)
		if err != nil {
			t.Fatalf("%q: %v", tc.entry, err)
		}
		if got := contentTypeAllowed(tc.ct, []string{a}); got != tc.want {
			t.Errorf("entry %q, part %q: %v, want %v", tc.entry, tc.ct, got, tc.want)
		}
	}
	if a, _ := contentTypeEntry("*/*"); a != "*" {
		t.Errorf(`"*/*" read as %q, want "*" (any: the list is cleared)`, a)
	}
}
