package policies

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/http1"
)

// keySource says what a limit counts by.
type keySource uint8

const (
	keyIP       keySource = iota // the client's IP address
	keyHeader                    // a request header's value
	keyRoute                     // the route's name: one counter per route
	keyUpstream                  // the upstream the request goes to
	keyConsumer                  // the consumer's name (set by an auth policy)
	keyArg                       // a query argument's raw value
	keyCookie                    // a cookie's value
	keyTemplate                  // a variable ("jwt_claim_sub") or a template ("{consumer}:{http_x_user}")
)

// requestKey is a parsed `key` setting of a limit policy. It is
// comparable, and evaluating it allocates nothing.
//
//	ip (default)        the client IP
//	route, upstream     the route's name, the upstream's name
//	consumer            the consumer an auth policy identified
//	credential          the credential variable an auth policy registers
//	header:NAME         a request header
//	arg:NAME            a query argument (raw, still percent-encoded)
//	cookie:NAME         a cookie
//	VARIABLE            any variable (jwt_claim_company_id, consumer_meta_tier, http_x_user_id)
//	"{a}:{b}"           a template of variables
type requestKey struct {
	source keySource
	header string // the field, cookie or argument name
	tpl    *engine.Template
}

// keyForms lists the accepted forms, for errors.
const keyForms = `"ip", "route", "upstream", "consumer", "credential", "header:NAME", "arg:NAME", "cookie:NAME", a variable name (jwt_claim_NAME, consumer_meta_NAME, http_NAME...) or a template such as "{consumer}:{http_x_user_id}"`

func parseRequestKey(s string) (requestKey, error) {
	named := func(prefix string) (string, bool) {
		if !strings.HasPrefix(s, prefix) {
			return "", false
		}
		return s[len(prefix):], true
	}
	switch s {
	case "", "ip":
		return requestKey{source: keyIP}, nil
	case "route":
		return requestKey{source: keyRoute}, nil
	case "upstream":
		return requestKey{source: keyUpstream}, nil
	case "consumer":
		return requestKey{source: keyConsumer}, nil
	}
	if name, ok := named("header:"); ok {
		if !http1.ValidFieldName(name) {
			return requestKey{}, fmt.Errorf("header:NAME needs a valid field name, got %q", name)
		}
		return requestKey{source: keyHeader, header: name}, nil
	}
	if name, ok := named("arg:"); ok {
		if name == "" || strings.ContainsAny(name, "&=# ") {
			return requestKey{}, fmt.Errorf("arg:NAME needs a query argument name, got %q", name)
		}
		return requestKey{source: keyArg, header: name}, nil
	}
	if name, ok := named("cookie:"); ok {
		if name == "" || strings.ContainsAny(name, ";= ") {
			return requestKey{}, fmt.Errorf("cookie:NAME needs a cookie name, got %q", name)
		}
		return requestKey{source: keyCookie, header: name}, nil
	}
	if strings.ContainsAny(s, "{}") {
		t, err := engine.ParseTemplate(s)
		if err != nil {
			return requestKey{}, err
		}
		if len(t.Variables()) == 0 {
			return requestKey{}, fmt.Errorf("template %q has no variable: every request would share one counter (use key: route for that)", s)
		}
		return requestKey{source: keyTemplate, tpl: t}, nil
	}
	// A bare variable name ("credential", "jwt_claim_company_id"): a
	// template of that one variable. Names are lower case with
	// underscores, so "IP" or "consumer:x" are typos, not variables.
	if !isVariableName(s) {
		return requestKey{}, fmt.Errorf("must be %s; got %q", keyForms, s)
	}
	t, err := engine.ParseTemplate("{" + s + "}")
	if err != nil {
		return requestKey{}, fmt.Errorf("must be %s; got %q: %v", keyForms, s, err)
	}
	return requestKey{source: keyTemplate, tpl: t}, nil
}

func isVariableName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// keyMissing says what a limit does with a request that has no value for
// its key (no such header, no consumer, a template variable without a
// value).
type keyMissing uint8

const (
	// missingIP counts the request by its client IP instead (the default),
	// so that leaving the header out does not share one counter with every
	// other client that also left it out.
	missingIP keyMissing = iota
	// missingSkip lets the request through without counting it.
	missingSkip
	// missingReject refuses the request with the policy's status.
	missingReject
)

func parseKeyMissing(s string) (keyMissing, error) {
	switch s {
	case "", "ip":
		return missingIP, nil
	case "skip":
		return missingSkip, nil
	case "reject":
		return missingReject, nil
	}
	return 0, fmt.Errorf(`must be "ip", "skip" or "reject", got %q`, s)
}

// String is the key's setting as configured.
func (k requestKey) String() string {
	switch k.source {
	case keyIP:
		return "ip"
	case keyRoute:
		return "route"
	case keyUpstream:
		return "upstream"
	case keyConsumer:
		return "consumer"
	case keyHeader:
		return "header:" + k.header
	case keyArg:
		return "arg:" + k.header
	case keyCookie:
		return "cookie:" + k.header
	}
	return k.tpl.String()
}

// appendValue appends the request's value for the key to dst, tagged so
// that values of different sources never collide with each other or with
// the client-IP fallback: 'v' + one value (a header, an argument, a
// cookie, the consumer, the route or upstream name), 't' + a template's
// key (engine.Template.AppendKey: the values' lengths, then the text),
// appendKey's 'i' + IP and hashLongKey's 'h' + hash. A template's text
// alone is not a key: "{a}:{b}" gives "x::y" for a="x:" b="y" and for
// a="x" b=":y", so a client choosing b could count against the counter of
// the client whose a is "x:". ok is false when the request has no value:
// an absent (or empty) header, argument or cookie, no consumer, a
// template variable without a value, a template whose text is empty.
func (k requestKey) appendValue(dst []byte, x *engine.Ctx) ([]byte, bool) {
	var v []byte
	switch k.source {
	case keyIP:
		return append(append(dst, 'i'), x.ClientIP()...), true
	case keyRoute:
		return append(append(dst, 'v'), x.RouteName()...), true
	case keyUpstream:
		n := x.UpstreamName()
		return append(append(dst, 'v'), n...), n != ""
	case keyConsumer:
		c := x.Consumer()
		if c == nil {
			return dst, false
		}
		return append(append(dst, 'v'), c.Name...), true
	case keyHeader:
		v, _ = x.Header(k.header)
	case keyArg:
		v, _ = x.Arg(k.header)
	case keyCookie:
		v, _ = x.Cookie(k.header)
	case keyTemplate:
		n := len(dst)
		out, missing := k.tpl.AppendKey(append(dst, 't'), x)
		if missing > 0 || len(engine.KeyText(out[n+1:])) == 0 {
			return out[:n], false
		}
		return out, true
	}
	if len(v) == 0 {
		return dst, false
	}
	return append(append(dst, 'v'), v...), true
}

// maxKeyValue is the longest key value kept as it is in a counter key.
// A client chooses the values (up to a field line, 8 KB, per variable of a
// template): kept whole, ten of them made a key longer than a shared
// dict's keys may be (shm.MaxKeyLen), whose every count failed and let
// the request through uncounted, and a few long keys evicted many short
// ones and made long Redis keys.
const maxKeyValue = 128

// hashLongKey replaces the tagged value b[from:] by 'h' and its SHA-256
// in hex when it is longer than maxKeyValue: a key of bounded length that
// two values share only if they are equal (the hash resists collisions a
// client would craft to share another's counter), and that no short
// value's key ('v', 't' or 'i') equals.
func hashLongKey(b []byte, from int) []byte {
	if len(b)-from <= maxKeyValue {
		return b
	}
	sum := sha256.Sum256(b[from:])
	return hex.AppendEncode(append(b[:from], 'h'), sum[:])
}

// keyOutcome is what appendKey decided.
type keyOutcome uint8

const (
	keyCounted keyOutcome = iota // count under the appended key
	keySkipped                   // let the request through uncounted
	keyRefused                   // refuse the request
)

// appendKey appends the request's counter key to dst, applying the
// key_missing rule when the request has no value for the key.
func (k requestKey) appendKey(dst []byte, x *engine.Ctx, missing keyMissing) ([]byte, keyOutcome) {
	out, ok := k.appendValue(dst, x)
	if ok {
		return hashLongKey(out, len(dst)), keyCounted
	}
	switch missing {
	case missingSkip:
		return dst, keySkipped
	case missingReject:
		return dst, keyRefused
	}
	dst = append(dst, 'i')
	return append(dst, x.ClientIP()...), keyCounted
}
