package engine

import "testing"

// BenchmarkHandlerCall is what the panic guard adds to each handler a
// request runs: call against calling the handler directly.
func BenchmarkHandlerCall(b *testing.B) {
	x := &Ctx{}
	h := func(*Ctx) Status { return Continue }
	b.Run("guarded", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			x.call(h)
		}
	})
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			h(x)
		}
	})
}

func TestHandlerCallAllocatesNothing(t *testing.T) {
	x := &Ctx{}
	h := func(*Ctx) Status { return Continue }
	if n := testing.AllocsPerRun(1000, func() { x.call(h) }); n != 0 {
		t.Fatalf("%v allocations per guarded call", n)
	}
}
