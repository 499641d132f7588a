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
