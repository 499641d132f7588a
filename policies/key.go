package policies

import (
	"fmt"
	"strings"

	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/http1"
)

// keySource says what a limit counts by.
type keySource uint8

const (
	keyIP     keySource = iota // the client's IP address
	keyHeader                  // the value of a request header (the client IP when absent)
	keyRoute                   // one counter for the whole route
)

// requestKey is a parsed `key` setting of a limit policy:
// "ip" (default), "header:NAME" or "route".
type requestKey struct {
	source keySource
	header string
}

func parseRequestKey(s string) (requestKey, error) {
	switch {
	case s == "" || s == "ip":
		return requestKey{source: keyIP}, nil
	case s == "route":
		return requestKey{source: keyRoute}, nil
	case strings.HasPrefix(s, "header:"):
		name := strings.TrimPrefix(s, "header:")
		if !http1.ValidFieldName(name) {
			return requestKey{}, fmt.Errorf("header:NAME needs a valid field name, got %q", name)
		}
		return requestKey{source: keyHeader, header: name}, nil
	}
	return requestKey{}, fmt.Errorf(`must be "ip", "header:NAME" or "route", got %q`, s)
}

// appendKey appends the request's key to dst. A missing header counts by
// client IP instead, so that leaving the header out does not share one
// counter with every other client that also left it out. The 'h'/'i' tag
// keeps header values and IPs apart.
func (k requestKey) appendKey(dst []byte, x *engine.Ctx) []byte {
	switch k.source {
	case keyRoute:
		return dst
	case keyHeader:
		if v, ok := x.Header(k.header); ok && len(v) > 0 {
			dst = append(dst, 'h')
			return append(dst, v...)
		}
	}
	dst = append(dst, 'i')
	return append(dst, x.ClientIP()...)
}
