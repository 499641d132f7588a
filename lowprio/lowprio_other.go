//go:build !linux

package lowprio

import "time"

// Thread is a lowered thread; here, where there is no lowering, one whose
// jobs run as any other goroutine.
type Thread struct{}

// NewThread returns a thread that nothing lowers here.
func NewThread() *Thread { return &Thread{} }

// Lower does nothing here.
func (t *Thread) Lower() {}

// Idle is false here.
func (t *Thread) Idle() bool { return false }

// Job does nothing here.
func (t *Thread) Job(idleFor, urgentAfter time.Duration) (end func()) { return func() {} }
