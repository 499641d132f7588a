//go:build !race

package engine

import "testing"

func TestRequestViewAndTemplatesDoNotAllocate(t *testing.T) {
	x := testCtx(t, sampleRequest)
	c := &Consumer{Name: "alice", Meta: map[string]string{"company_id": "c9"}}
	tp, err := ParseTemplate("{consumer}:{arg_page}:{http_x_tenant}:{cookie_theme}:{remote_addr}:{consumer_meta_company_id}")
	if err != nil {
		t.Fatal(err)
	}
	k := NewPrivateKey[*Consumer](&ChainBuilder{})
	ik := (&ChainBuilder{}).PrivateInt()
	buf := make([]byte, 0, 256)
	allocs := testing.AllocsPerRun(1000, func() {
		x.SetConsumer(c)
		Set(x, k, c)
		x.SetInt(ik, 7)
		_, _ = Get(x, k)
		_ = x.Int(ik)
		_, _ = x.Arg("sort")
		_, _ = x.Cookie("session")
		x.VisitArgs(func(_, _ []byte) bool { return true })
		x.VisitHeaders(func(_, _ []byte) bool { return true })
		buf, _ = tp.Append(buf[:0], x)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per run, want 0", allocs)
	}
}
