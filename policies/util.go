package policies

import (
	"strconv"
	"strings"

	"github.com/sluice-gw/sluice/http1"
)

func itoa(i int) string     { return strconv.Itoa(i) }
func quote(s string) string { return strconv.Quote(s) }

// gatewayOwned says why a policy may not edit a field, or "" when it may.
// Framing fields (Content-Length, Transfer-Encoding) and hop-by-hop ones
// are the gateway's to write: an edit would break the message or its
// connection. When request is true, Host and X-Forwarded-* are refused
// too: the route's `host` setting and the gateway own them.
func gatewayOwned(name string, request bool) string {
	switch {
	case strings.EqualFold(name, "Content-Length"), strings.EqualFold(name, "Transfer-Encoding"):
		return "is framing, written by the gateway"
	case http1.IsHopByHop([]byte(name)):
		return "is hop-by-hop, written by the gateway for each connection"
	}
	if request {
		switch {
		case strings.EqualFold(name, "Host"):
			return "is set by the route's host setting (pass, upstream or a literal host)"
		case strings.EqualFold(name, "X-Forwarded-For"), strings.EqualFold(name, "X-Forwarded-Proto"), strings.EqualFold(name, "X-Forwarded-Host"):
			return "is written by the gateway"
		}
	}
	return ""
}
