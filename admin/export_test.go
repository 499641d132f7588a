package admin

import "time"

// Warmups is the number of warm-up renders the scrape thread finished.
func (s *Server) Warmups() uint64 { return s.warmups.Load() }

// SetReloadWarmEvery sets the least time between two warm-ups after
// reloads.
func (s *Server) SetReloadWarmEvery(d time.Duration) { s.reloadWarmEvery = d }
