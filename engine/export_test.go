package engine

// ContextsMade exposes how many request contexts the server allocated.
func ContextsMade(s *Server) int64 { return s.ctxMade.Load() }

func init() { StrictStages = true } // a refused stage move fails the test that makes it

// GroupIDs is how many lb group ids the compiler ever handed out.
func GroupIDs(c *Compiler) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nextID
}

// MaxPolicySeries is the cap of series per policy counter family.
const MaxPolicySeries = maxPolicySeries

// RawServer is rawServer (subclient_test.go) for the external tests: an
// upstream answering raw bytes per request head.
var RawServer = rawServer

// PeerCalls returns, read on each worker's loop, the calls s's workers
// hold for p: written and awaiting their replies, and waiting to be
// written.
func PeerCalls(s *Server, p *Peer) (sent, waiting int) {
	ws := s.workers.Load()
	if ws == nil {
		return 0, 0
	}
	for _, w := range *ws {
		done := make(chan [2]int, 1)
		if err := w.execute(func() {
			var n [2]int
			if p.id < len(w.peers) && w.peers[p.id] != nil {
				pc := w.peers[p.id]
				n[0], n[1] = pc.sent, len(pc.calls)-pc.head-pc.sent
			}
			done <- n
		}); err != nil {
			continue
		}
		n := <-done
		sent += n[0]
		waiting += n[1]
	}
	return sent, waiting
}

// OffloadBusy is how many of s's offload goroutines are taken.
func OffloadBusy(s *Server) int { return len(s.offload.slots) }
