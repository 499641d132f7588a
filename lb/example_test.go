package lb_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/sluice-gw/sluice/lb"
)

// A request as the engine runs it: pick, Begin, attempt, End, and a retry on
// another target while the policy and the budget allow.
func Example() {
	u, err := lb.NewUpstream("api", lb.Config{Balancer: lb.LeastConn})
	if err != nil {
		panic(err)
	}
	if err := u.Update([]lb.TargetSpec{{Addr: "10.0.0.1:80"}, {Addr: "10.0.0.2:80"}}); err != nil {
		panic(err)
	}
	picker := u.NewPicker() // one per event loop

	// Pretend 10.0.0.1 refuses connections.
	attempt := func(t *lb.Target) lb.Outcome {
		if t.Addr == "10.0.0.1:80" {
			return lb.Outcome{ConnectFailed: true, Latency: time.Millisecond}
		}
		return lb.Outcome{Status: 200, Latency: 2 * time.Millisecond}
	}

	served, attempts := 0, 0
	for range 3 {
		u.RecordRequest()
		var tried lb.Tried
		for n := 1; ; n++ {
			t, err := picker.Pick(nil, &tried)
			if errors.Is(err, lb.ErrAllDown) || errors.Is(err, lb.ErrNoTarget) {
				fmt.Println("no target:", err)
				break
			}
			t.Begin()
			attempts++
			o := attempt(t)
			t.End(o)
			tried.Add(t)
			if o.Status == 200 {
				served++
				break
			}
			if !u.ShouldRetry([]byte("GET"), n, o) {
				fmt.Println("failed")
				break
			}
		}
	}
	fmt.Printf("served %d of 3 requests in %d attempts\n", served, attempts)
	for _, ts := range u.Status().Targets {
		fmt.Println(ts.Addr, ts.State, ts.DownReason)
	}
	// Output:
	// served 3 of 3 requests in 4 attempts
	// 10.0.0.1:80 down max_fails
	// 10.0.0.2:80 healthy
}
