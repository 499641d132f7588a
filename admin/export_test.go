package admin

import "time"

// Warmups is the number of warm-up renders the scrape thread finished.
func (s *Server) Warmups() uint64 { return s.warmups.Load() }

// SetReloadWarmEvery sets the least time between two warm-ups after
// reloads.
func (s *Server) SetReloadWarmEvery(d time.Duration) { s.reloadWarmEvery = d }

// GzipReused is the number of compressed segments the last gzipped render
// copied from the one before (read after a scrape: its answer orders it).
func (s *Server) GzipReused() int { return s.gz.reused }
