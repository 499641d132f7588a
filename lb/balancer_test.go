package lb

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"
	"time"
)

// TestWeightDistribution: over 100k picks with no load, every balancer
// gives each target its weight's share within ±1 percentage point.
func TestWeightDistribution(t *testing.T) {
	const picks = 100_000
	weights := []int{1, 2, 3, 4}
	for _, kind := range allKinds {
		t.Run(string(kind), func(t *testing.T) {
			u, _ := newTestUpstream(t, Config{Balancer: kind}, weights...)
			p := u.newPicker(42)
			counts := make([]int, len(weights))
			var key [8]byte
			keyRNG := rng{state: 7}
			for range picks {
				binary.LittleEndian.PutUint64(key[:], keyRNG.next())
				counts[indexOf(u, mustPick(t, p, key[:], nil))]++
			}
			for i, w := range weights {
				got := float64(counts[i]) / picks
				want := float64(w) / 10
				t.Logf("target %d weight %d: share %.4f (want %.4f)", i, w, got, want)
				if math.Abs(got-want) > 0.01 {
					t.Errorf("target %d: share %.4f, want %.4f ±0.01", i, got, want)
				}
			}
		})
	}
}

func TestRoundRobinSmoothSequence(t *testing.T) {
	u, _ := newTestUpstream(t, Config{}, 5, 1, 1)
	p := u.newPicker(1)
	var seq []int
	for range 14 {
		seq = append(seq, indexOf(u, mustPick(t, p, nil, nil)))
	}
	// nginx's smooth sequence for 5,1,1 is a a b a c a a, rotated by the
	// picker's random start; it repeats every 7 picks.
	want := []int{0, 0, 1, 0, 2, 0, 0}
	rotation := -1
	for r := range want {
		ok := true
		for i := range 7 {
			if seq[i] != want[(i+r)%7] {
				ok = false
				break
			}
		}
		if ok {
			rotation = r
			break
		}
	}
	if rotation < 0 {
		t.Fatalf("sequence %v is not a rotation of %v", seq[:7], want)
	}
	for i := 7; i < 14; i++ {
		if seq[i] != seq[i-7] {
			t.Fatalf("sequence %v does not repeat every 7 picks", seq)
		}
	}
}

func TestRoundRobinSkipsDownTargetKeepingWeights(t *testing.T) {
	u, _ := newTestUpstream(t, Config{}, 1, 1, 2)
	p := u.newPicker(3)
	failTarget(u.Snapshot().Targets()[0], 1)
	counts := make([]int, 3)
	for range 300 {
		counts[indexOf(u, mustPick(t, p, nil, nil))]++
	}
	if counts[0] != 0 || counts[1] != 100 || counts[2] != 200 {
		t.Fatalf("counts %v, want [0 100 200]", counts)
	}
}

func TestLeastConnPrefersFewestInFlightPerWeight(t *testing.T) {
	u, _ := newTestUpstream(t, Config{Balancer: LeastConn}, 1, 1, 2)
	ts := u.Snapshot().Targets()
	p := u.newPicker(5)
	// in-flight 2, 1, 3: per weight 2, 1, 1.5 -> target 1.
	for range 2 {
		ts[0].Begin()
	}
	ts[1].Begin()
	for range 3 {
		ts[2].Begin()
	}
	if got := mustPick(t, p, nil, nil); got != ts[1] {
		t.Fatalf("picked %s, want %s", got.Addr, ts[1].Addr)
	}
	// Ties: 2,2,4 in flight -> 2,2,2 per weight: round-robin by weight.
	ts[1].Begin()
	ts[2].Begin()
	counts := make([]int, 3)
	for range 400 {
		counts[indexOf(u, mustPick(t, p, nil, nil))]++
	}
	if counts[0] != 100 || counts[1] != 100 || counts[2] != 200 {
		t.Fatalf("tied counts %v, want [100 100 200]", counts)
	}
}

func TestP2CAvoidsBusyTarget(t *testing.T) {
	u, _ := newTestUpstream(t, Config{Balancer: P2C}, 1, 1, 1)
	ts := u.Snapshot().Targets()
	p := u.newPicker(9)
	for range 10 {
		ts[0].Begin()
	}
	counts := make([]int, 3)
	for range 3000 {
		counts[indexOf(u, mustPick(t, p, nil, nil))]++
	}
	// Target 0 wins only when drawn against itself, which P2C never does.
	if counts[0] != 0 {
		t.Fatalf("busy target picked %d times (counts %v)", counts[0], counts)
	}
}

// TestPeakEWMAMovesLoadOffSlowTarget simulates sequential traffic on a
// driven clock: once target 2 slows from 5ms to 50ms, it gets almost none of
// the load, and it gets its share back after it recovers.
func TestPeakEWMAMovesLoadOffSlowTarget(t *testing.T) {
	u, clock := newTestUpstream(t, Config{Balancer: PeakEWMA}, 1, 1, 1)
	p := u.newPicker(11)
	latency := []time.Duration{5 * time.Millisecond, 5 * time.Millisecond, 5 * time.Millisecond}
	run := func(n int) []int {
		counts := make([]int, 3)
		for range n {
			x := mustPick(t, p, nil, nil)
			i := indexOf(u, x)
			counts[i]++
			x.Begin()
			clock.Advance(latency[i])
			x.End(Outcome{Latency: latency[i], Status: 200})
		}
		return counts
	}
	warm := run(3000)
	t.Logf("all 5ms: %v", warm)
	for i, c := range warm {
		if c < 600 {
			t.Fatalf("before the slowdown target %d got %d of 3000", i, c)
		}
	}
	latency[2] = 50 * time.Millisecond
	slow := run(10_000)
	share := float64(slow[2]) / 10_000
	t.Logf("target 2 at 50ms: %v (share %.4f)", slow, share)
	if share > 0.05 {
		t.Fatalf("slow target kept %.2f%% of the load", share*100)
	}
	latency[2] = 5 * time.Millisecond
	// The slow estimate decays (10 s time constant) and the next pick pulls
	// it down: within 60 s of simulated traffic the share is back.
	run(15_000)
	back := run(6000)
	t.Logf("recovered: %v", back)
	if float64(back[2])/6000 < 0.2 {
		t.Fatalf("recovered target got %v", back)
	}
}

// TestPeakEWMANewTargetNotStarved pins a bug: a target that joins an upstream
// whose targets answer in 1ms was starved for ~20 s while its 30ms default
// estimate decayed. It must get traffic at once, one attempt at a time until
// it answers.
func TestPeakEWMANewTargetNotStarved(t *testing.T) {
	u, clock := newTestUpstream(t, Config{Balancer: PeakEWMA}, 1, 1)
	p := u.newPicker(43)
	for range 100 {
		x := mustPick(t, p, nil, nil)
		x.Begin()
		clock.Advance(time.Millisecond)
		x.End(Outcome{Latency: time.Millisecond, Status: 200})
	}
	if err := u.Update(specs(1, 1, 1)); err != nil {
		t.Fatal(err)
	}
	fresh := u.Snapshot().Targets()[2]
	// While its first attempt is in flight, the others are preferred.
	var first *Target
	for first != fresh {
		first = mustPick(t, p, nil, nil)
	}
	first.Begin()
	for range 50 {
		if mustPick(t, p, nil, nil) == fresh {
			t.Fatal("a second attempt went to the new target before it answered")
		}
	}
	clock.Advance(time.Millisecond)
	fresh.End(Outcome{Latency: time.Millisecond, Status: 200})
	counts := make([]int, 3)
	for range 3000 {
		x := mustPick(t, p, nil, nil)
		counts[indexOf(u, x)]++
		x.Begin()
		clock.Advance(time.Millisecond)
		x.End(Outcome{Latency: time.Millisecond, Status: 200})
	}
	if counts[2] < 600 {
		t.Fatalf("new target got %v", counts)
	}
}

func TestPeakEWMAAccountsForInFlight(t *testing.T) {
	u, _ := newTestUpstream(t, Config{Balancer: PeakEWMA}, 1, 1)
	ts := u.Snapshot().Targets()
	p := u.newPicker(13)
	for range 5 {
		ts[1].Begin()
	}
	for range 100 {
		if got := mustPick(t, p, nil, nil); got != ts[0] {
			t.Fatalf("picked the target with 5 in flight")
		}
	}
}

func TestTriedMakesRetriesGoElsewhere(t *testing.T) {
	for _, kind := range allKinds {
		t.Run(string(kind), func(t *testing.T) {
			u, _ := newTestUpstream(t, Config{Balancer: kind, PanicThreshold: -1}, 1, 2, 3, 4)
			p := u.newPicker(17)
			var tried Tried
			key := []byte("client-1")
			for i := range 4 {
				x := mustPick(t, p, key, &tried)
				if tried.Has(x) {
					t.Fatalf("attempt %d repeated %s", i, x.Addr)
				}
				tried.Add(x)
			}
			if _, err := p.Pick(key, &tried); !errors.Is(err, ErrNoTarget) {
				t.Fatalf("after all tried: err %v, want ErrNoTarget", err)
			}
			tried.Reset()
			if tried.Len() != 0 {
				t.Fatal("Reset left entries")
			}
			mustPick(t, p, key, &tried)
		})
	}
}

func TestAllDown(t *testing.T) {
	for _, kind := range allKinds {
		t.Run(string(kind), func(t *testing.T) {
			u, clock := newTestUpstream(t, Config{Balancer: kind, MaxEjectedPercent: 100}, 1, 1, 1)
			p := u.newPicker(19)
			for _, x := range u.Snapshot().Targets() {
				failTarget(x, 1)
			}
			if _, err := p.Pick([]byte("k"), nil); !errors.Is(err, ErrAllDown) {
				t.Fatalf("err %v, want ErrAllDown", err)
			}
			// fail_timeout (10s) later, nginx semantics: back in rotation.
			clock.Advance(10 * time.Second)
			mustPick(t, p, []byte("k"), nil)
		})
	}
}

func TestPanicWhenAllDownUsesEveryTarget(t *testing.T) {
	u, _ := newTestUpstream(t, Config{MaxEjectedPercent: 100, PanicWhenAllDown: true}, 1, 1)
	p := u.newPicker(23)
	for _, x := range u.Snapshot().Targets() {
		failTarget(x, 1)
	}
	seen := map[*Target]bool{}
	for range 4 {
		seen[mustPick(t, p, nil, nil)] = true
	}
	if len(seen) != 2 || !p.Panicking() {
		t.Fatalf("panic mode picked %d targets, panicking=%v", len(seen), p.Panicking())
	}
}

// TestPanicThreshold: with 1 of 4 healthy (25% < 50%) every target is
// used; with 3 of 4 healthy the down one is skipped.
func TestPanicThreshold(t *testing.T) {
	for _, kind := range allKinds {
		t.Run(string(kind), func(t *testing.T) {
			u, _ := newTestUpstream(t, Config{Balancer: kind, MaxEjectedPercent: 100}, 1, 1, 1, 1)
			ts := u.Snapshot().Targets()
			p := u.newPicker(29)
			failTarget(ts[0], 1)
			var key [8]byte
			for i := range 2000 {
				binary.LittleEndian.PutUint64(key[:], uint64(i))
				if mustPick(t, p, key[:], nil) == ts[0] {
					t.Fatalf("picked the down target with 3 of 4 healthy")
				}
			}
			failTarget(ts[1], 1)
			failTarget(ts[2], 1)
			counts := make([]int, 4)
			for i := range 4000 {
				binary.LittleEndian.PutUint64(key[:], uint64(i))
				counts[indexOf(u, mustPick(t, p, key[:], nil))]++
			}
			if !p.Panicking() {
				t.Fatal("not panicking with 1 of 4 healthy")
			}
			for i, c := range counts {
				if c < 400 {
					t.Fatalf("panic mode counts %v: target %d starved", counts, i)
				}
			}
		})
	}
}

func TestPanicModeOffSkipsDownTargets(t *testing.T) {
	u, _ := newTestUpstream(t, Config{MaxEjectedPercent: 100, PanicThreshold: -1}, 1, 1, 1, 1)
	ts := u.Snapshot().Targets()
	p := u.newPicker(31)
	for _, x := range ts[:3] {
		failTarget(x, 1)
	}
	for range 100 {
		if got := mustPick(t, p, nil, nil); got != ts[3] {
			t.Fatalf("picked down target %s", got.Addr)
		}
	}
}

func TestEmptyUpstream(t *testing.T) {
	u, err := NewUpstream("empty", Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.NewPicker().Pick(nil, nil); !errors.Is(err, ErrNoTarget) {
		t.Fatalf("err %v, want ErrNoTarget", err)
	}
}
