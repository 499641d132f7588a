package harness

import (
	"math"
	"testing"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		in   []float64
		want float64
	}{
		{"empty", nil, 0},
		{"one", []float64{7}, 7},
		{"odd unsorted", []float64{9, 1, 5}, 5},
		{"even takes the mean of the middle two", []float64{4, 1, 3, 2}, 2.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]float64(nil), tt.in...)
			if got := Median(tt.in); got != tt.want {
				t.Fatalf("Median(%v) = %v, want %v", tt.in, got, tt.want)
			}
			for i := range in {
				if in[i] != tt.in[i] {
					t.Fatal("Median reordered its input")
				}
			}
		})
	}
}

func TestAggregate(t *testing.T) {
	p := PeerResult{Peer: "sluice", Runs: []Run{
		{RPS: 100, CPUPerReq: 10, Requests: 1000, UpstreamOpened: 1, AllocsPerReq: -1, P99Micros: 900},
		{RPS: 300, CPUPerReq: 8, Requests: 3000, UpstreamOpened: 0, AllocsPerReq: 0.5, P99Micros: 700},
		{RPS: 200, CPUPerReq: 9, Requests: 2000, UpstreamOpened: 2, AllocsPerReq: 0.1, Errors: 4, P99Micros: 800},
	}}
	p.Aggregate()
	if p.RPS != 200 || p.CPUPerReq != 9 || p.P99Micros != 800 {
		t.Fatalf("medians: rps %v cpu %v p99 %v", p.RPS, p.CPUPerReq, p.P99Micros)
	}
	if p.Requests != 6000 || p.UpstreamOpened != 3 || p.Errors != 4 {
		t.Fatalf("totals: %+v", p)
	}
	if want := 100 * (1 - 3.0/6000); math.Abs(p.ReusePercent-want) > 1e-9 {
		t.Fatalf("reuse %v, want %v", p.ReusePercent, want)
	}
	// Runs that could not read the malloc counter are left out of the median.
	if math.Abs(p.AllocsPerReq-0.3) > 1e-9 {
		t.Fatalf("allocs %v, want 0.3", p.AllocsPerReq)
	}
}

func TestAggregateWithoutAllocCounter(t *testing.T) {
	p := PeerResult{Runs: []Run{{Requests: 10, AllocsPerReq: -1}}}
	p.Aggregate()
	if p.AllocsPerReq != -1 {
		t.Fatalf("allocs %v, want -1 (unknown)", p.AllocsPerReq)
	}
}
