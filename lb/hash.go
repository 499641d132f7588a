package lb

import "github.com/cespare/xxhash/v2"

// pickHash looks the key up in the snapshot's Maglev table. When the owner
// of the key's slot cannot be used, it walks the table from that slot to the
// next usable owner: the table interleaves targets, so the keys of a down
// target spread over the others by weight, and no other key moves. The
// table never names an admin-down target (see pool): its keys go where a
// walk past it would take them, so draining it moves only its own keys.
func (p *Picker) pickHash(s *pool, key []byte, tried *Tried, now int64, panicking bool) *Target {
	m := uint64(len(s.table))
	var slot uint64
	if len(key) == 0 {
		slot = p.rng.below(m)
	} else {
		// Lemire's multiply-shift maps the hash onto the table as evenly
		// as a modulo, without the 64-bit division.
		slot, _ = mul64(xxhash.Sum64(key), m)
	}
	idx := s.table[slot]
	if t := s.targets[idx]; p.usable(t, tried, now, panicking) {
		return t
	}
	p.seenGen++
	seen := p.seen[s.off : s.off+len(s.targets)]
	if p.seenGen == 0 {
		clear(p.seen)
		p.seenGen = 1
	}
	gen := p.seenGen
	seen[idx] = gen
	distinct, n := 1, s.live
	for step := uint64(1); step < m && distinct < n; step++ {
		if slot++; slot == m {
			slot = 0
		}
		idx = s.table[slot]
		if seen[idx] == gen {
			continue
		}
		if t := s.targets[idx]; p.usable(t, tried, now, panicking) {
			return t
		}
		seen[idx] = gen
		distinct++
	}
	return nil
}
