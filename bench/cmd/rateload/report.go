package main

import (
	"fmt"
	"io"
	"slices"
	"time"
)

// summary is what the one output line says.
type summary struct {
	requests, errors int
	duration         time.Duration
	latency, late    []time.Duration // sorted by write
	windows          bool            // split by window parity too
	even, odd        []time.Duration // the latencies by window, when windows
}

func (s *summary) add(l *connLoop) {
	s.requests += len(l.latency)
	s.errors += l.errors
	s.latency = append(s.latency, l.latency...)
	s.late = append(s.late, l.late...)
	for i, odd := range l.odd {
		if odd {
			s.odd = append(s.odd, l.latency[i])
		} else {
			s.even = append(s.even, l.latency[i])
		}
	}
}

// percentile of a sorted slice, in microseconds: the element at p·n,
// p = 1 giving the maximum; 0 when empty.
func percentile(sorted []time.Duration, p float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))].Microseconds()
}

// write prints the line bench/internal/harness.ParseRateloadOutput reads.
// The fields up to max_us are the original format; the late_ fields (the
// client's own lateness in sending, excluded from the latencies) come after
// them so older readers still find theirs, and the window fields (with
// -windows) last.
func (s *summary) write(w io.Writer) error {
	slices.Sort(s.latency)
	slices.Sort(s.late)
	lat, late := s.latency, s.late
	_, err := fmt.Fprintf(w, "requests=%d errors=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d late_p50_us=%d late_p99_us=%d late_max_us=%d",
		s.requests, s.errors, s.duration.Microseconds(),
		percentile(lat, 0.50), percentile(lat, 0.90), percentile(lat, 0.99), percentile(lat, 0.999), percentile(lat, 1),
		percentile(late, 0.50), percentile(late, 0.99), percentile(late, 1))
	if err != nil {
		return err
	}
	if !s.windows {
		_, err = io.WriteString(w, "\n")
		return err
	}
	slices.Sort(s.even)
	slices.Sort(s.odd)
	_, err = fmt.Fprintf(w, " even_requests=%d even_p99_us=%d even_p999_us=%d odd_requests=%d odd_p99_us=%d odd_p999_us=%d\n",
		len(s.even), percentile(s.even, 0.99), percentile(s.even, 0.999), len(s.odd), percentile(s.odd, 0.99), percentile(s.odd, 0.999))
	return err
}
