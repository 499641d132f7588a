package engine

import "github.com/panjf2000/gnet/v2"

// Closing safely on an event loop.
//
// gnet closes a connection synchronously when a write to it fails (EPIPE,
// ECONNRESET): OnClose runs in the middle of whatever the engine was doing,
// for example halfway through relaying a response. Two rules keep that safe:
//
//   - OnClose marks the connection gone at once, and every write goes
//     through write/writev, which do nothing for a gone connection: its file
//     descriptor is closed and may already belong to a new connection.
//   - The rest of the close (failing or finishing the request, returning
//     the context, closing the other side) runs when the outermost engine
//     callback on the worker returns, not in the middle of it.

// enter and leave bracket every callback the engine gets on a worker:
// OnOpen, OnTraffic, OnClose and Executed work.
func (w *worker) enter() { w.depth++ }

func (w *worker) leave() {
	w.depth--
	if w.depth > 0 {
		return
	}
	for len(w.closes) > 0 {
		w.depth++
		c := w.closes[0]
		copy(w.closes, w.closes[1:])
		w.closes[len(w.closes)-1] = nil
		w.closes = w.closes[:len(w.closes)-1]
		c.handleClose()
		w.depth--
	}
}

// closer is a connection whose close is being handled.
type closer interface{ handleClose() }

// onGone records that gnet closed a connection of this worker and handles
// it now or, inside another callback, once that callback is done.
func (w *worker) onGone(c closer) {
	if w.depth > 1 { // 1 is the OnClose callback itself
		w.closes = append(w.closes, c)
		return
	}
	c.handleClose()
}

func (cc *clientConn) handleClose()   { cc.onClose(nil) }
func (uc *upstreamConn) handleClose() { uc.onClose(nil) }

// discard drops the first n bytes read from c. gnet's Discard drops
// everything buffered when n is 0 (or less): a caller that consumed
// nothing of a partial message would lose the rest of it. Discard(-1) says
// "everything" where that is meant.
func discard(c gnet.Conn, n int) {
	if n > 0 {
		_, _ = c.Discard(n)
	}
}

// write sends b to the client unless its connection is gone.
func (cc *clientConn) write(b []byte) {
	if !cc.dead {
		_, _ = cc.c.Write(b)
	}
}

// writev sends cc.iov (two slices) to the client unless its connection is gone.
func (cc *clientConn) writev() {
	if !cc.dead {
		_, _ = cc.c.Writev(cc.iov[:])
	}
}

// write sends b to the upstream unless its connection is gone.
func (uc *upstreamConn) write(b []byte) {
	if !uc.dead {
		_, _ = uc.c.Write(b)
	}
}
