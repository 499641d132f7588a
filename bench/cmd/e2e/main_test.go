package main

import (
	"reflect"
	"testing"
)

func TestFlagLists(t *testing.T) {
	if got := split(" plain, gateway,,idle "); !reflect.DeepEqual(got, []string{"plain", "gateway", "idle"}) {
		t.Fatalf("split = %q", got)
	}
	if got, err := parseInts("64, 256"); err != nil || !reflect.DeepEqual(got, []int{64, 256}) {
		t.Fatalf("parseInts = %v, %v", got, err)
	}
	for _, bad := range []string{"64,x", "0", "-5"} {
		if _, err := parseInts(bad); err == nil {
			t.Errorf("parseInts(%q) accepted", bad)
		}
	}
}
