package policies

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/http1"
)

// The cache key. Two requests share an entry only when everything the key
// holds is equal, so the key must be injective: no two different tuples of
// values may give the same bytes. Values a client chooses (a Vary field, a
// query argument in the key template) may hold any separator, so a
// separator alone does not delimit them ("x|" + "|" + "y" is "x" + "|" +
// "|y"): every value is written so that its end is known without reading
// what follows it.
//
//	c2|IDENTITY|CLASS|CONSUMER|VARY...|SHAPE|TEXT
//
//	IDENTITY  the policy's identity (scope and id), fixed per policy
//	CLASS     GET (GET and HEAD share entries) or POST
//	CONSUMER  with per_consumer: the consumer's name as a value (below)
//	VARY      each `vary` field as a value: its field lines' values
//	          joined with ", " (RFC 9111 §4.1: A: x + A: y is A: x, y)
//	SHAPE     the length of each variable part of TEXT, in order, each
//	          followed by ',' ('-' when the request has none): the key
//	          template's variables, or the declared parameters of the
//	          default key; empty for the default key without parameters
//	TEXT      the key template's text, or host + path + '?' + the sorted
//	          declared parameters (or the query as sent)
//
// With a key template, SHAPE|TEXT is the template's key as
// engine.Template.AppendKey writes it, the builder the limit keys use
// too (its doc says why it is injective); the default key writes the
// same form from the declared parameters.
//
// A value is its length in decimal, ':' and its bytes ("5:alice"), or '-'
// when the request has none (an absent field is not an empty one). TEXT
// is last and readable, so that PurgeCache can match it exactly or by
// prefix; it is told apart from other TEXTs of the same SHAPE because the
// template (or the declared parameters' names) is fixed: with the
// lengths, one TEXT has one reading. The default TEXT without parameters
// needs no SHAPE: a host holds no '/', a path no '?'.
//
// Format 1 ("c1|", values joined with '|' as they were) is not read: its
// entries in L2 are misses and expire.

// cacheKeyPrefix starts every key; it names the format.
const cacheKeyPrefix = "c2|"

// appendKey builds the request's L1 key (allocation-free once dst has
// grown).
func (p *cachePolicy) appendKey(dst []byte, x *engine.Ctx) []byte {
	dst = append(dst, cacheKeyPrefix...)
	dst = append(dst, p.identity...)
	dst = append(dst, '|')
	if x.Method() == http1.MethodPOST {
		dst = append(dst, "POST|"...)
	} else {
		dst = append(dst, "GET|"...) // GET and HEAD share entries
	}
	if p.perConsumer {
		if c := x.Consumer(); c != nil {
			dst = appendKeyValue(dst, c.Name)
		} else {
			dst = append(dst, '-')
		}
		dst = append(dst, '|')
	}
	for _, h := range p.vary {
		dst = appendVaryValue(dst, x, h)
		dst = append(dst, '|')
	}
	if p.key != nil {
		dst, _ = p.key.AppendKey(dst, x) // SHAPE|TEXT
		return dst
	}
	pv := Params(x)
	if pv != nil {
		for _, i := range pv.p.sorted {
			v := &pv.vals[i]
			dst = appendShapeItem(dst, int(v.n), v.present)
		}
	}
	dst = append(dst, '|')
	dst = append(dst, x.Host()...)
	dst = append(dst, x.Path()...)
	dst = append(dst, '?')
	if pv != nil {
		return pv.AppendSorted(dst)
	}
	return append(dst, x.Query()...)
}

// appendKeyValue appends v as a key value: its length, ':', its bytes.
func appendKeyValue(dst []byte, v string) []byte {
	dst = strconv.AppendInt(dst, int64(len(v)), 10)
	dst = append(dst, ':')
	return append(dst, v...)
}

// appendShapeItem appends the length of one variable part of the key's
// text, or '-' when the request has no value for it.
func appendShapeItem(dst []byte, n int, ok bool) []byte {
	if !ok && n == 0 {
		return append(dst, '-', ',')
	}
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, ',')
}

// appendVaryValue appends the request's field name as a key value: every
// field line of that name, joined with ", ", or '-' when there is none.
func appendVaryValue(dst []byte, x *engine.Ctx, name []byte) []byte {
	n, lines := 0, 0
	x.VisitHeaders(func(k, v []byte) bool {
		if bytes.EqualFold(k, name) {
			n += len(v)
			lines++
		}
		return true
	})
	if lines == 0 {
		return append(dst, '-')
	}
	dst = strconv.AppendInt(dst, int64(n+2*(lines-1)), 10)
	dst = append(dst, ':')
	first := true
	x.VisitHeaders(func(k, v []byte) bool {
		if bytes.EqualFold(k, name) {
			if !first {
				dst = append(dst, ", "...)
			}
			first = false
			dst = append(dst, v...)
		}
		return true
	})
	return dst
}

// keyText returns the TEXT of the key k (the part after base, the
// policy's "c2|IDENTITY|"), or false when k is not a key of this policy.
func (p *cachePolicy) keyText(k, base string) (string, bool) {
	rest, ok := strings.CutPrefix(k, base)
	if !ok {
		return "", false
	}
	if _, rest, ok = strings.Cut(rest, "|"); !ok { // the method class
		return "", false
	}
	values := len(p.vary)
	if p.perConsumer {
		values++
	}
	for range values {
		if rest, ok = skipKeyValue(rest); !ok {
			return "", false
		}
	}
	_, rest, ok = strings.Cut(rest, "|") // the shape: digits, '-' and ','
	return rest, ok
}

// skipKeyValue skips one value written by appendKeyValue (or '-') and
// the '|' after it.
func skipKeyValue(k string) (string, bool) {
	if strings.HasPrefix(k, "-|") {
		return k[2:], true
	}
	colon := strings.IndexByte(k, ':')
	if colon <= 0 {
		return "", false
	}
	n, err := strconv.Atoi(k[:colon])
	if err != nil || n < 0 || n >= len(k)-colon-1 || k[colon+1+n] != '|' {
		return "", false
	}
	return k[colon+2+n:], true
}
