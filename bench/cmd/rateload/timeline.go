package main

import "time"

// timeline splits each request's delay between the server and the client.
//
// An open-loop client must count a request from when it was due, not from
// when it was sent: a server that stalls for 50 ms holds back every request
// due on that connection meanwhile, and counting those from their (late)
// send would hide the stall (coordinated omission). But the send can also be
// late because the client itself was: its goroutine woke late, or it was
// descheduled. That lateness is not the server's and must not be counted.
//
// The rule: replay the server's observed service times (recv − send) on the
// schedule of a punctual client. A punctual client sends request k at
//
//	start[k] = max(due[k], start[k-1] + service[k-1])
//
// (when it is due, or when the previous response on this connection is
// back, if that is later), and the request's latency is
//
//	latency[k] = start[k] + service[k] − due[k]
//	           = recv[k] − due[k] − late[k],  late[k] = send[k] − start[k] ≥ 0.
//
// So a server stall counts from due (start[k] is pushed by the slow previous
// response), a late wake-up does not (it is in late[k]), and neither does a
// busy connection that was busy only because the client sent the previous
// request late (start[k-1] is the punctual send, not the actual one).
// late[k] is reported on its own, so a reader can see the client is healthy.
//
// It assumes a service time does not depend on when the request was sent,
// which holds for an idle-enough server; a client that is always late
// (saturated) still shows, as large late figures.
type timeline struct {
	punctualDone time.Duration // start + service of the previous request
}

// record returns the request's latency and the client's lateness in sending
// it. Times are on one monotonic clock; send is never before due.
func (t *timeline) record(due, send, recv time.Duration) (latency, late time.Duration) {
	start := max(due, t.punctualDone)
	late = max(0, send-start)
	t.punctualDone = start + (recv - send)
	return t.punctualDone - due, late
}
