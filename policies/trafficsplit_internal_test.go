package policies

import (
	"math"
	"strconv"
	"testing"
)

func testSplitRule(weights ...uint64) *tsRule {
	r := &tsRule{next: new(perWorker[uint64])}
	for _, w := range weights {
		r.targets = append(r.targets, tsTarget{weight: w})
		r.total += w
	}
	r.schedule = smoothSchedule(r.targets)
	return r
}

func TestSmoothScheduleIsExactAndSpread(t *testing.T) {
	for _, weights := range [][]uint64{{1}, {1, 1}, {10, 90}, {5, 0, 3}, {50, 30, 20}, {10000, 1}, {7, 7, 7, 7}} {
		r := testSplitRule(weights...)
		g := uint64(0)
		for _, w := range weights {
			g = gcd(g, w)
		}
		if uint64(len(r.schedule)) != r.total/g {
			t.Errorf("%v: cycle of %d, want %d", weights, len(r.schedule), r.total/g)
		}
		counts := make([]uint64, len(weights))
		for _, i := range r.schedule {
			counts[i]++
		}
		for i, w := range weights {
			if counts[i] != w/g {
				t.Errorf("%v: target %d appears %d times in the cycle, want %d", weights, i, counts[i], w/g)
			}
		}
	}
	// Smooth: with 1:1, strict alternation.
	r := testSplitRule(1, 1)
	for i := 0; i < 10; i++ {
		if got := r.turn(0); got != i%2 {
			t.Fatalf("turn %d: %d", i, got)
		}
	}
}

// TestTrafficSplitWeightsWithinOnePoint is the bar: over 100k
// requests the shares are within ±1 percentage point of the weights, for
// round-robin (exact) and for the hash of 100k distinct keys.
func TestTrafficSplitWeightsWithinOnePoint(t *testing.T) {
	const n = 100_000
	r := testSplitRule(5, 25, 70)
	rr := make([]int, 3)
	hashed := make([]int, 3)
	key := make([]byte, 0, 32)
	for i := 0; i < n; i++ {
		rr[r.turn(i%4)]++ // four workers
		key = strconv.AppendInt(append(key[:0], "user-"...), int64(i), 10)
		hashed[r.byHash(splitHash(key))]++
	}
	for i, w := range []float64{5, 25, 70} {
		for name, counts := range map[string][]int{"round-robin": rr, "hash": hashed} {
			share := 100 * float64(counts[i]) / n
			if math.Abs(share-w) > 1 {
				t.Errorf("%s: target %d has %.2f%%, weight %.0f%%", name, i, share, w)
			}
		}
	}
	t.Logf("round-robin %v, hash %v of %d", rr, hashed, n)
}

func BenchmarkTrafficSplitChoice(b *testing.B) {
	r := testSplitRule(5, 25, 70)
	key := []byte("user-12345")
	b.Run("round-robin", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = r.turn(0)
		}
	})
	b.Run("hash", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = r.byHash(splitHash(key))
		}
	})
}
