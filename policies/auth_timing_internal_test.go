//go:build !race

package policies

import (
	"bytes"
	"hash/maphash"
	"os"
	"testing"
	"time"
)

// TestSecretCompareTiming: among the candidates of a bucket, a key that
// differs in its first byte takes as long to refuse as one that differs
// in its last (a plain bytes.Equal would stop at the first difference).
// The bucket is forced, as an attacker cannot aim at one without the
// seed. The bound catches an early exit (bytes.Equal measured 1.55),
// not nanoseconds.
func TestSecretCompareTiming(t *testing.T) {
	if os.Getenv("SLUICE_TIMING_TESTS") == "" {
		t.Skip("a timing measurement, not a deterministic test: SLUICE_TIMING_TESTS=1 runs it (TestSecretIndexConstantTimeCandidates checks the compare is subtle's)")
	}
	secret := bytes.Repeat([]byte{'k'}, 256)
	first, last := bytes.Clone(secret), bytes.Clone(secret)
	first[0], last[255] = 'x', 'x'
	var s secretIndex[int]
	s.init()
	// Many candidates in the bucket, so that comparing dominates hashing.
	entries := make([]secretEntry[int], 64)
	for i := range entries {
		entries[i] = secretEntry[int]{secret: secret, v: i}
	}
	s.m[maphash.Bytes(s.seed, first)] = entries
	s.m[maphash.Bytes(s.seed, last)] = entries
	batch := func(probe []byte) time.Duration {
		start := time.Now()
		for i := 0; i < 200; i++ {
			if _, ok := s.find(probe); ok {
				t.Fatal("found")
			}
		}
		return time.Since(start)
	}
	// Interleaved rounds, the best of each: a busy machine slows both.
	early, late := time.Duration(1<<62), time.Duration(1<<62)
	for round := 0; round < 40; round++ {
		early = min(early, batch(first))
		late = min(late, batch(last))
	}
	ratio := float64(late) / float64(early)
	t.Logf("differ at byte 0: %v, at byte 255: %v (ratio %.2f)", early/200, late/200, ratio)
	if ratio > 1.25 || ratio < 1/1.25 {
		t.Fatalf("refusing depends on where the key differs: ratio %.2f", ratio)
	}
}
