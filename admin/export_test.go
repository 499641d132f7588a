package admin

// Warmups is the number of warm-up renders the scrape thread finished.
func (s *Server) Warmups() uint64 { return s.warmups.Load() }
