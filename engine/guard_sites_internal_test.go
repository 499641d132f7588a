package engine

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/lb"
)

// A mirror's exchange that panics (no policy code runs there, but the
// engine's own does, off the loop) is the mirror's failure: the panic is
// logged with its stack, and the target's attempt ends, its in-flight
// count back to 0. A nil pool makes the exchange panic.
func TestMirrorPanicEndsItsTargetsAttempt(t *testing.T) {
	u, err := lb.NewUpstream("shadow", lb.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Update([]lb.TargetSpec{{Addr: "127.0.0.1:9", Weight: 1}}); err != nil {
		t.Fatal(err)
	}
	target := u.Snapshot().Targets()[0]
	var logged []string
	w := &worker{srv: &Server{opts: Options{Logf: func(format string, args ...any) {
		logged = append(logged, fmt.Sprintf(format, args...))
	}}}}
	w.done.pending = true // post queues without waking a loop: the test delivers
	target.Begin()
	w.mirror(nil, &SubRequest{}, target.Addr, time.Second, target, 0)
	if len(logged) != 1 || !strings.Contains(logged[0], "mirror to 127.0.0.1:9 panicked: runtime error") || !strings.Contains(logged[0], "goroutine ") {
		t.Fatalf("logged %q, want the mirror's panic and its stack", logged)
	}
	if n := len(w.done.queue); n != 1 {
		t.Fatalf("%d completions posted, want the target's outcome", n)
	}
	w.done.queue[0].deliver()
	if n := target.InFlight(); n != 0 {
		t.Fatalf("the target has %d attempts in flight after the mirror's panic", n)
	}
}
