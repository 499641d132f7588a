//go:build !race

package policies

import "testing"

// The pure per-request pieces of cors and request-id, by themselves.
func TestHotPathHelpersAllocateNothing(t *testing.T) {
	set := testOriginSet(t)
	buf := make([]byte, 0, 64)
	origin := []byte("https://a.b.example.org")
	id := []byte("0f8fad5b-d9cb-469f-a165-70867728950e")
	for name, f := range map[string]func(){
		"appendUUID4":     func() { buf = appendUUID4(buf[:0]) },
		"appendUUID7":     func() { buf = appendUUID7(buf[:0], 1700000000000) },
		"originSet.match": func() { _ = set.match(origin) },
		"validIncomingID": func() { _ = validIncomingID(id) },
		"wellFormed":      func() { _ = wellFormedOrigin(origin) },
	} {
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("%s: %v allocations", name, n)
		}
	}
}
