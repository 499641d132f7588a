package engine

import "fmt"

// The code a Peer brings (its PeerProtocol) and the callbacks a policy
// hands a call (PeerOrphan; PeerReply goes through Ctx.callReply) run on
// the worker's loop, where a panic would end every connection of the
// process. Each is called here with an open-coded deferred recover (no
// allocation, a few nanoseconds a call). A protocol that panics is a
// protocol fault: the connection goes, as for a reply not of the
// protocol, and its calls fail with ErrPeerUnavailable; a PeerWatcher's
// or an orphan's panic, which no request waits for, is logged and
// dropped.

// replyLen is the protocol's ReplyLen.
func (pc *peerConn) replyLen(buf []byte) (n int, err error) {
	defer func() {
		if r := recover(); r != nil {
			n, err = 0, pc.panicked("ReplyLen", r)
		}
	}()
	return pc.p.opts.Protocol.ReplyLen(buf)
}

// checkGreeting is the protocol's CheckGreeting.
func (pc *peerConn) checkGreeting(reply []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = pc.panicked("CheckGreeting", r)
		}
	}()
	return pc.p.opts.Protocol.CheckGreeting(reply)
}

// greeting is the protocol's Greeting; err says it panicked.
func (pc *peerConn) greeting() (msg []byte, replies int, err error) {
	defer func() {
		if r := recover(); r != nil {
			msg, replies, err = nil, 0, pc.p.errorf(ErrPeerUnavailable, "%v", pc.panicked("Greeting", r))
		}
	}()
	msg, replies = pc.p.opts.Protocol.Greeting()
	return msg, replies, nil
}

// peerState tells pw the connection's health.
func (pc *peerConn) peerState(pw PeerWatcher, up, wasDown bool) {
	defer func() {
		if r := recover(); r != nil {
			_ = pc.panicked("PeerState", r)
		}
	}()
	pw.PeerState(up, wasDown)
}

// orphaned gives a gone request's reply to its call's orphan.
func (pc *peerConn) orphaned(orphan PeerOrphan, reply []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			_ = pc.panicked("a PeerOrphan", r)
		}
	}()
	orphan(reply, err, pc.send)
}

// panicked logs a panic r of the peer's code or a policy's callback,
// what, with its stack, and returns it as an error.
func (pc *peerConn) panicked(what string, r any) error {
	err := fmt.Errorf("%s panicked: %v", what, r)
	pc.w.srv.logf("peer %s: %v\n%s", pc.p.opts.Name, err, panicStack())
	return err
}
