package engine

import (
	"time"

	"github.com/sluice-gw/sluice/lb"
)

// triedSet is the targets a request already tried (no allocation).
type triedSet = lb.Tried

// workerPicker is a worker's picker for one lb group; it is rebuilt when
// the group behind an upstream id changes.
type workerPicker struct {
	group  *lb.Upstream
	picker *lb.Picker
}

// pickTarget chooses a target of u not yet tried by this request, or nil
// when none is usable. It begins the attempt on the target.
func (cc *clientConn) pickTarget(u *Upstream) *Target {
	w := cc.w
	if cc.attempts == 0 {
		u.lb.RecordRequest()
	}
	t, err := w.picker(u).Pick(cc.hashKey(u), &cc.tried)
	if err != nil || t == nil {
		return nil
	}
	t.Begin()
	cc.attemptTarget = t
	cc.attemptStart = w.now
	return t
}

// picker is the worker's picker for u's lb group, made again when the
// group behind u's id changed.
func (w *worker) picker(u *Upstream) *lb.Picker {
	for len(w.pickers) <= u.id {
		w.pickers = append(w.pickers, workerPicker{})
	}
	wp := &w.pickers[u.id]
	if wp.group != u.lb {
		wp.group, wp.picker = u.lb, u.lb.NewPicker()
	}
	return wp.picker
}

// hashKey extracts the key of a hash balancer from the request; nil for
// other balancers.
func (cc *clientConn) hashKey(u *Upstream) []byte {
	h := u.hashOn
	if h == nil {
		return nil
	}
	x := cc.x
	switch h.Source {
	case lb.HashOnIP:
		return cc.remoteIP
	case lb.HashOnHeader:
		v, _ := x.Header(h.Name)
		return v
	case lb.HashOnCookie:
		v, _ := x.Header("Cookie")
		return lb.CookieValue(v, h.Name)
	case lb.HashOnURI:
		return x.req.Target.In(x.head)
	case lb.HashOnArg:
		return lb.QueryArg(x.req.Target.In(x.head), h.Name)
	case lb.HashOnConsumer:
		return consumerHashKey(x.Consumer())
	}
	return nil
}

// consumerHashKey is a consumer's key for the hash balancer: its id, or
// its name when it has none, so that a consumer renamed with its id kept
// stays on its target; nil for a request no auth policy identified (a
// random target by weight, like any empty key). An anonymous consumer is a
// consumer like any other, as in Kong: its requests share one target.
func consumerHashKey(c *Consumer) []byte {
	switch {
	case c == nil:
		return nil
	case c.ID != "":
		return bytesOf(c.ID)
	}
	return bytesOf(c.Name)
}

// endAttempt reports the current attempt's outcome to its target, once.
func (cc *clientConn) endAttempt(kind failKind, status int) {
	t := cc.attemptTarget
	if t == nil {
		return
	}
	cc.attemptTarget = nil
	o := outcomeOf(kind, status, time.Duration(cc.w.now-cc.attemptStart))
	t.End(o)
}

// outcomeOf describes an attempt for lb: a failure kind when status is 0,
// else the response status.
func outcomeOf(kind failKind, status int, latency time.Duration) lb.Outcome {
	o := lb.Outcome{Latency: latency, Status: status}
	if status != 0 {
		return o
	}
	switch kind {
	case failConnect:
		o.ConnectFailed = true
	case failConnectTimeout:
		o.ConnectFailed, o.TimedOut = true, true
	case failClosed:
		o.IOError = true
	case failTimeout:
		o.TimedOut = true
	case failBadResponse:
		o.InvalidHeader = true
	}
	return o
}

// untriedLeft says whether u has a target this request has not tried, so
// that a retry is not counted against the budget when it cannot happen.
// (Health is the picker's business: a retry may still find them all down.)
func (cc *clientConn) untriedLeft(u *Upstream) bool {
	return cc.tried.Len() < u.lb.Snapshot().Len()
}
