package config

import (
	"errors"
	"fmt"
	"testing"

	"github.com/sluice-gw/sluice/shm"
)

// TestSharedDictBelowShmMinimum pins the bug where a shared dict too small
// for shm to hold one entry passed validation and failed only when the
// dicts were built, at the shared_dicts line, with shm's message. Loading
// now refuses it at the dict's own path and line, stating the minimum.
func TestSharedDictBelowShmMinimum(t *testing.T) {
	doc := func(size int) []byte { return []byte(fmt.Sprintf("shared_dicts:\n  tiny: %d\n", size)) }
	_, err := Parse(doc(shm.MinCapacity-1), "t.yaml")
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 1 {
		t.Fatalf("a dict of %d bytes: got %v, want one error", shm.MinCapacity-1, err)
	}
	want := fmt.Sprintf("t.yaml:2: shared_dicts.tiny: must be at least %d bytes (room for one entry), got %d", shm.MinCapacity, shm.MinCapacity-1)
	if errs[0].Error() != want {
		t.Fatalf("got  %q\nwant %q", errs[0].Error(), want)
	}
	if p := Pointer(errs[0].Path); p != "/shared_dicts/tiny" {
		t.Fatalf("the Admin API's pointer is %q, want /shared_dicts/tiny", p)
	}
	if _, err := Parse(doc(shm.MinCapacity), "t.yaml"); err != nil {
		t.Fatalf("a dict of shm.MinCapacity bytes: %v", err)
	}
}

// TestShmMinCapacityIsWhatShmRefuses keeps the minimum validation checks
// equal to what shm really refuses, through the registry the engine
// builds the dicts with: a smaller one passing validation would fail the
// compile again, a larger one would refuse dicts that work.
func TestShmMinCapacityIsWhatShmRefuses(t *testing.T) {
	if _, err := shm.NewRegistry(map[string]int64{"d": shm.MinCapacity}); err != nil {
		t.Fatalf("shm refuses a dict of shm.MinCapacity (%d) bytes: %v", shm.MinCapacity, err)
	}
	if _, err := shm.NewRegistry(map[string]int64{"d": shm.MinCapacity - 1}); !errors.Is(err, shm.ErrBadSize) {
		t.Fatalf("shm takes a dict of %d bytes, below shm.MinCapacity: %v", shm.MinCapacity-1, err)
	}
}
