package main

import "time"

// windows cut the run into wall-clock windows of one width, numbered from
// the Unix epoch, so that another process can act in every even window
// and not in the odd ones (bench/cmd/poller -align does, at a window's
// start). Requests are then told apart by the parity of the window they
// were due in, and the two halves of one run compared: what the other
// process does is then measured against the same run without it, with the
// machine's drift from one run to the next cancelled out.
type windows struct {
	base  int64 // the wall clock at the run clock's zero, in ns since the epoch
	width int64 // ns; 0: off
}

func (w windows) on() bool { return w.width > 0 }

// odd says whether a time on the run's clock falls in an odd window.
func (w windows) odd(at time.Duration) bool {
	return ((w.base+int64(at))/w.width)%2 == 1
}
