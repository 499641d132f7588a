//go:build !race

package engine

import (
	"context"
	"testing"
)

// The guards of the policy code run outside handlers (guard.go, peerguard.go)
// cost no allocation when nothing panics: their deferred recovers are
// open-coded, as call's is (TestHandlerCallAllocatesNothing).
func TestGuardsAllocateNothing(t *testing.T) {
	x := &Ctx{}
	reply := []byte("+OK\r\n")
	pc := &peerConn{p: &Peer{opts: PeerOptions{Protocol: allocProto{}}}}
	done := func(*Ctx, []byte, error) Status { return Continue }
	orphan := func([]byte, error, func([]byte)) {}
	next := func(*Ctx) Status { return Continue }
	work := func(context.Context) func(*Ctx) Status { return next }
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		run  func()
	}{
		{"callReply", func() { x.callReply(done, reply, nil) }},
		{"runOffloaded", func() { runOffloaded(ctx, work, nil, PhaseAccess) }},
		{"replyLen", func() { _, _ = pc.replyLen(reply) }},
		{"checkGreeting", func() { _ = pc.checkGreeting(reply) }},
		{"greeting", func() { _, _, _ = pc.greeting() }},
		{"peerState", func() { pc.peerState(allocProto{}, true, false) }},
		{"orphaned", func() { pc.orphaned(orphan, reply, nil) }},
	} {
		if n := testing.AllocsPerRun(1000, tc.run); n != 0 {
			t.Errorf("%s: %v allocations per call", tc.name, n)
		}
	}
}

type allocProto struct{}

func (allocProto) Greeting() ([]byte, int)          { return nil, 0 }
func (allocProto) CheckGreeting([]byte) error       { return nil }
func (allocProto) ReplyLen(buf []byte) (int, error) { return len(buf), nil }
func (allocProto) PeerState(up, wasDown bool)       {}
