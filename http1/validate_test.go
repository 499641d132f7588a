package http1

import "testing"

func TestValidFieldNameAndValue(t *testing.T) {
	names := map[string]bool{"X-Req": true, "": false, "Bad Name": false, "a:b": false, "x\x00": false, "!#$%&'*+-.^_`|~09az": true}
	for n, want := range names {
		if got := ValidFieldName(n); got != want {
			t.Errorf("ValidFieldName(%q) = %v, want %v", n, got, want)
		}
	}
	values := map[string]bool{"": true, "a b": true, "tab\tin": true, " lead": false, "trail ": false, "cr\rlf": false, "lf\n": false, "nul\x00": false, "obs\xff": true}
	for v, want := range values {
		if got := ValidFieldValue(v); got != want {
			t.Errorf("ValidFieldValue(%q) = %v, want %v", v, got, want)
		}
	}
}
