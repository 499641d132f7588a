package admin

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
)

// Successive compressions of changing texts each gunzip (with the standard
// library's reader, as Prometheus' is) to their text: segments that did
// not change are copied, the others compressed again, whatever changed —
// values, the number of segments, their keys, a key whose segment now
// holds other text.
func TestSegmentedGzipRoundTrips(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var g segmentedGzip
	lines := make([]int, 3000) // one "counter" per line
	var text []byte
	var marks []textMark
	for round := range 60 {
		switch {
		case round%10 == 9: // every segment changes
			for i := range lines {
				lines[i]++
			}
		case round%2 == 1: // a few lines change
			for range 3 {
				lines[r.IntN(len(lines))] += 1000
			}
		}
		per := 100 + round/5%3*50 // segment sizes, and so keys, move now and then
		text, marks = text[:0], marks[:0]
		for i, v := range lines {
			if round%7 == 3 && i%per == 0 {
				marks = append(marks, textMark{key: 1 << 40, off: len(text)}) // an empty segment
			}
			if i%per == 0 {
				marks = append(marks, textMark{key: uint64(i / per), off: len(text)})
			}
			text = fmt.Appendf(text, "sluice_route_requests_total{route=\"route-%d\",code=\"200\"} %d\n", i, v)
		}
		want := string(text)
		gz, spare := g.compress(text, marks)
		got := gunzip(t, gz)
		if got != want {
			t.Fatalf("round %d: gunzipped %d bytes, want %d", round, len(got), len(want))
		}
		// Even rounds change nothing; a round%5 == 0 moves the segments.
		if segments := (len(lines) + per - 1) / per; round%2 == 0 && round%5 != 0 && g.reused != segments {
			t.Errorf("round %d: %d of %d segments reused, the text unchanged", round, g.reused, segments)
		}
		text = spare
	}
}

func gunzip(t *testing.T, gz []byte) string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	zr.Multistream(false)
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if rest, _ := io.ReadAll(zr); len(rest) != 0 {
		t.Fatalf("%d bytes after the member", len(rest))
	}
	return string(out)
}
