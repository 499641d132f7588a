package main

import (
	"runtime"
	"testing"
)

// The event loops keep spareProcs Ps of their own beside them (main.go says
// why), unless GOMAXPROCS is set in the environment.
func TestReserveSparePKeepsPsBesideTheLoops(t *testing.T) {
	was := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(was)

	t.Setenv("GOMAXPROCS", "")
	runtime.GOMAXPROCS(1)
	reserveSpareP(2)
	if got := runtime.GOMAXPROCS(0); got != 2+spareProcs {
		t.Fatalf("2 workers on 1 P: GOMAXPROCS %d, want %d", got, 2+spareProcs)
	}
	runtime.GOMAXPROCS(16)
	reserveSpareP(2)
	if got := runtime.GOMAXPROCS(0); got != 16 {
		t.Fatalf("2 workers on 16 Ps: GOMAXPROCS lowered to %d", got)
	}

	t.Setenv("GOMAXPROCS", "1")
	runtime.GOMAXPROCS(1)
	reserveSpareP(2)
	if got := runtime.GOMAXPROCS(0); got != 1 {
		t.Fatalf("GOMAXPROCS=1 in the environment: raised to %d", got)
	}
}
