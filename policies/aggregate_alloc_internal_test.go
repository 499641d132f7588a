//go:build !race

package policies

import (
	"encoding/json"
	"testing"
)

// TestAggregateMergeAllocatesNothing: once its buffers are warm, the merge
// of a request's results (checks, target, filters, output) allocates
// nothing; what an aggregate allocates per request is the sub-requests'
// own (net/http's exchanges, their bodies).
func TestAggregateMergeAllocatesNothing(t *testing.T) {
	deny := &fieldFilter{deny: map[string]struct{}{"secret": {}}}
	allow := &fieldFilter{allow: map[string]struct{}{"qty": {}}}
	var m merger
	out := mergeTestParts(&m, nil, deny, allow)
	userKey := []byte("user")
	n := testing.AllocsPerRun(1000, func() {
		for _, p := range testMergeParts {
			if !json.Valid(p) || jsonDepth(p) > 64 {
				t.Fatal("invalid")
			}
		}
		out = mergeTestParts(&m, out, deny, allow)
		m.group(userKey, jsonTrim(testMergeParts[0]), allow)
	})
	if n != 0 {
		t.Fatalf("%v allocations per merge", n)
	}
}
