package policies

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/shm"
)

// TestHashLongKeyBoundsCounterKeys pins the length of a counter key built
// from a client's value: a value of up to maxKeyValue bytes is kept as it
// is, a longer one becomes 'h' and its SHA-256, 65 bytes, whatever its
// length (ten fields of 8 KB in a template made keys past shm.MaxKeyLen,
// whose counts all failed open).
func TestHashLongKeyBoundsCounterKeys(t *testing.T) {
	prefix := "lc|route:api|0|"
	short := prefix + "v" + strings.Repeat("a", maxKeyValue-1)
	if got := hashLongKey([]byte(short), len(prefix)); string(got) != short {
		t.Fatalf("a value of %d bytes changed: %q", maxKeyValue, got)
	}
	seen := map[string]string{}
	for _, v := range []string{"v" + strings.Repeat("a", maxKeyValue), "v" + strings.Repeat("a", shm.MaxKeyLen+1), "v" + strings.Repeat("a", shm.MaxKeyLen) + "b", "i" + strings.Repeat("a", maxKeyValue)} {
		got := hashLongKey([]byte(prefix+v), len(prefix))
		if len(got) != len(prefix)+65 || !bytes.HasPrefix(got, []byte(prefix+"h")) {
			t.Fatalf("a value of %d bytes: key %q", len(v), got)
		}
		if other, ok := seen[string(got)]; ok {
			t.Fatalf("values of %d and %d bytes share the key %q", len(other), len(v), got)
		}
		seen[string(got)] = v
	}
}
