package engine

import (
	"bytes"
	"slices"
	"strconv"
)

// A template's key: what limit counters and cache entries are keyed by.
//
// Append joins a template's values as they are, which is right for a
// header value and wrong for a key: with "{a}:{b}", a="x:" b="y" and
// a="x" b=":y" both give "x::y", and with "{a}{b}" any split of one
// string gives it. A client who chooses one value (a header, a query
// argument) could then count against another client's counter, or be
// answered from another client's cache entry. A key must be injective:
// two requests share one only when they have the same values.

// keyInlineVars is how many variables AppendKey measures in one pass
// (their lengths live on the stack); a template of more evaluates its
// variables twice.
const keyInlineVars = 16

// AppendKey appends t's key for x to dst and returns the grown buffer;
// missing counts the variables without a value, as Append does. The key
// is
//
//	SHAPE '|' TEXT
//
//	SHAPE  per variable of t, in order: the length of its value in
//	       decimal, or '-' when the request has none; each followed by ','
//	TEXT   the template's text for x, as Append writes it: literals as
//	       written, values unescaped, an absent variable adding nothing
//
// ("{consumer}:{arg_page}" with alice and page 3: "5,1,|alice:3"; without
// a page argument: "5,-,|alice:").
//
// The property: for one template, two requests get the same key only if
// each variable has the same value in both, or no value in both. SHAPE
// holds only digits, '-' and ',', so it ends at the first '|'; with the
// template's literals fixed and every value's length known, TEXT reads
// one way only, whatever bytes the values hold — a value holding the
// template's literal ("x:" + ":" + "y" against "x" + ":" + ":y"),
// variables side by side ("{a}{b}"), an empty value against an absent
// one ("0," against "-,"). Keys of different templates may be equal:
// callers key one template per namespace (a policy's identity). The
// property assumes a variable gives one value per request (every
// variable is a view of the request or of what a policy set).
//
// TEXT is last and kept as Append writes it, so that an operator reads
// a Redis key ("sluice:lc:{route:api/limit-count|t5,1,|alice:3}:0:…")
// and a caller can match the text exactly or by prefix (the cache's
// purge): escaping the values instead would make the text unreadable
// and its prefixes meaningless. KeyText returns it.
//
// AppendKey allocates nothing once dst has room for the key: each value
// is appended once, then the text is moved behind the shape. Like every
// Template method it only reads t: safe for concurrent use.
func (t *Template) AppendKey(dst []byte, x *Ctx) (out []byte, missing int) {
	vars := 0
	for i := range t.parts {
		if t.parts[i].v != nil {
			vars++
		}
	}
	if vars > keyInlineVars {
		return t.appendKeyTwoPass(dst, x)
	}
	start := len(dst)
	var lens [keyInlineVars]int32
	dst, missing = t.appendKeyText(dst, x, lens[:vars])
	shape := 1 // the '|'
	for _, n := range lens[:vars] {
		shape += shapeItemLen(n)
	}
	text := len(dst) - start
	dst = slices.Grow(dst, shape)[:len(dst)+shape]
	copy(dst[start+shape:], dst[start:start+text])
	w := dst[start:start] // writes in place: dst has the room
	for _, n := range lens[:vars] {
		w = appendShapeItem(w, int(n))
	}
	_ = append(w, '|')
	return dst, missing
}

// appendKeyTwoPass is AppendKey for a template of more than
// keyInlineVars variables: a first pass writes the shape, each value
// appended and taken back to measure it; a second writes the text. It
// is also the plain version AppendKey is checked and measured against.
func (t *Template) appendKeyTwoPass(dst []byte, x *Ctx) (out []byte, missing int) {
	for i := range t.parts {
		if v := t.parts[i].v; v != nil {
			n := len(dst)
			var ok bool
			dst, ok = v.fn(x, dst)
			length := len(dst) - n
			if !ok {
				length = -1
			}
			dst = appendShapeItem(dst[:n], length)
		}
	}
	return t.appendKeyText(append(dst, '|'), x, nil)
}

// appendKeyText appends the key's TEXT: Append's, but a variable without
// a value adds nothing whatever its function appended. With lens (one
// per variable), it records each value's length there, -1 for none.
func (t *Template) appendKeyText(dst []byte, x *Ctx, lens []int32) (out []byte, missing int) {
	vars := 0
	for i := range t.parts {
		p := &t.parts[i]
		if p.v == nil {
			dst = append(dst, p.lit...)
			continue
		}
		n := len(dst)
		var ok bool
		dst, ok = p.v.fn(x, dst)
		length := int32(len(dst) - n)
		if !ok {
			dst, length = dst[:n], -1
			missing++
		}
		if lens != nil {
			lens[vars] = length
		}
		vars++
	}
	return dst, missing
}

// appendShapeItem appends one item of a key's shape: the value's length
// n and ',', or "-," for no value (n < 0).
func appendShapeItem(dst []byte, n int) []byte {
	if n < 0 {
		return append(dst, '-', ',')
	}
	return append(strconv.AppendInt(dst, int64(n), 10), ',')
}

// shapeItemLen is the length appendShapeItem writes for n.
func shapeItemLen(n int32) int {
	digits := 1
	for ; n >= 10; n /= 10 {
		digits++
	}
	return digits + 1
}

// KeyText returns the TEXT of a key AppendKey wrote (key starting where
// AppendKey began to write): what follows the shape. The result is a
// view into key, valid while key is.
func KeyText(key []byte) []byte {
	i := bytes.IndexByte(key, '|')
	if i < 0 {
		return nil
	}
	return key[i+1:]
}
