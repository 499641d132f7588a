package policies

import (
	"fmt"
	"strings"

	"github.com/sluice-gw/sluice/http1"
)

// The content_types entries of cache (the responses it stores) and params
// (the files it accepts): one syntax, checked by contentTypeEntry.

// contentTypeEntry checks a content_types entry and returns it as the
// matcher reads it (lower case; "*" for any type): "type/subtype",
// "type/*", a structured suffix "+json", or "*" (or "*/*"). Anything else
// is refused: an empty entry made the matcher index past its end, and a
// word without a slash matched nothing, silently.
func contentTypeEntry(ct string) (string, error) {
	ct = strings.ToLower(strings.TrimSpace(ct))
	if ct == "*" || ct == "*/*" {
		return "*", nil
	}
	if suffix, ok := strings.CutPrefix(ct, "+"); ok {
		if !http1.ValidFieldName(suffix) || strings.Contains(suffix, "+") {
			return "", fmt.Errorf("a structured suffix is + and a name (+json, +xml), got %q", ct)
		}
		return ct, nil
	}
	typ, sub, ok := strings.Cut(ct, "/")
	if !ok || typ == "*" || !http1.ValidFieldName(typ) || sub != "*" && !http1.ValidFieldName(sub) {
		return "", fmt.Errorf("must be type/subtype (application/json), type/* (image/*), a structured suffix (+json) or * for any, without parameters; got %q", ct)
	}
	return ct, nil
}
