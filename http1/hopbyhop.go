package http1

// hopByHop answers whether a field is named by a Connection option (RFC 9110
// §7.6.1), which makes it hop-by-hop. It reads the Connection values from
// the parsed buffer on demand: the common head has no such option
// (connOther is false) and pays nothing.
type hopByHop struct {
	buf       []byte
	fields    []Field
	meta      []fieldMeta
	connOther bool
}

// namedByConnection reports whether a Connection option equals name.
func (h *hopByHop) namedByConnection(name []byte) bool {
	for i, f := range h.fields {
		if h.meta[i].kind != kindConnection {
			continue
		}
		v := f.Value.In(h.buf)
		for len(v) > 0 {
			var opt []byte
			opt, v = nextListElement(v)
			if equalFoldAny(opt, name) {
				return true
			}
		}
	}
	return false
}

// IsHopByHop reports whether a field name is hop-by-hop by itself (RFC 9110
// §7.6.1, RFC 9112 §7.4): Connection, Keep-Alive, Proxy-Connection, TE,
// Trailer, Upgrade. Fields named by Connection options are hop-by-hop too;
// the serializers handle those from the parsed head.
func IsHopByHop(name []byte) bool {
	if !allIn(name, classToken) { // classifyField expects a parsed name
		return false
	}
	switch classifyField(name) {
	case kindConnection, kindKeepAlive, kindProxyConnection, kindTE, kindTrailer, kindUpgrade:
		return true
	}
	return false
}
