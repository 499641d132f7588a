package engine

import (
	"strconv"
	"strings"
	"testing"
)

// keyTestValues are the values of the variables keytest_0, keytest_1...
// (FuzzTemplateAppendKey). A variable without a value still appends its
// bytes: AppendKey must drop them.
var keyTestValues []keyTestValue

type keyTestValue struct {
	v      string
	absent bool
}

func init() {
	RegisterVariablePrefix("keytest_", func(rest string) (VarFunc, error) {
		i, err := strconv.Atoi(rest)
		if err != nil {
			return nil, err
		}
		return func(_ *Ctx, dst []byte) ([]byte, bool) {
			v := keyTestValues[i]
			return append(dst, v.v...), !v.absent
		}, nil
	})
}

// keyTestTemplate is the template of literals lits with the variable
// keytest_i between lits[i] and lits[i+1] (braces doubled).
func keyTestTemplate(t testing.TB, lits []string) *Template {
	var src strings.Builder
	for i, l := range lits {
		if i > 0 {
			src.WriteString("{keytest_" + strconv.Itoa(i-1) + "}")
		}
		src.WriteString(strings.NewReplacer("{", "{{", "}", "}}").Replace(l))
	}
	tp, err := ParseTemplate(src.String())
	if err != nil {
		t.Fatalf("%q: %v", src.String(), err)
	}
	return tp
}

// decodeKey is the reference reading of a key of the template of
// literals lits, written from AppendKey's description: the shape's
// lengths (canonical decimal, or '-'), '|', then the text split by those
// lengths, literal by literal. It fails on anything else.
func decodeKey(lits []string, key string) ([]keyTestValue, bool) {
	vars := len(lits) - 1
	lens := make([]int, vars)
	for i := range lens {
		if rest, ok := strings.CutPrefix(key, "-,"); ok {
			lens[i], key = -1, rest
			continue
		}
		num, rest, ok := strings.Cut(key, ",")
		n, err := strconv.Atoi(num)
		if !ok || err != nil || n < 0 || strconv.Itoa(n) != num {
			return nil, false
		}
		lens[i], key = n, rest
	}
	key, ok := strings.CutPrefix(key, "|")
	if !ok {
		return nil, false
	}
	vals := make([]keyTestValue, vars)
	for i, l := range lits {
		if key, ok = strings.CutPrefix(key, l); !ok {
			return nil, false
		}
		if i == vars {
			break
		}
		if lens[i] < 0 {
			vals[i].absent = true
			continue
		}
		if lens[i] > len(key) {
			return nil, false
		}
		vals[i].v, key = key[:lens[i]], key[lens[i]:]
	}
	return vals, key == ""
}

// keyTestTuple splits s at NUL into vars values; bit i of absent takes
// variable i's value away (its bytes stay, for AppendKey to drop).
func keyTestTuple(s string, absent uint32, vars int) []keyTestValue {
	parts := strings.Split(s, "\x00")
	vals := make([]keyTestValue, vars)
	for i := range vals {
		if i < len(parts) {
			vals[i].v = parts[i]
		}
		vals[i].absent = i < 32 && absent&(1<<i) != 0
	}
	return vals
}

// sameTuple says whether two tuples are one to a key: the same values,
// or no value, variable by variable.
func sameTuple(a, b []keyTestValue) bool {
	for i := range a {
		if a[i].absent != b[i].absent || !a[i].absent && a[i].v != b[i].v {
			return false
		}
	}
	return true
}

// FuzzTemplateAppendKey checks AppendKey's property on any template
// (literals of any bytes, braces and the shape's own characters
// included, variables side by side, up to 20 of them: past
// keyInlineVars) and any values: the reference decoder reads every key
// back to its tuple, so two distinct tuples never share a key; two tuples
// share a key exactly when they are the same; the text is the literals
// and the values; the two-pass evaluation writes the same bytes.
func FuzzTemplateAppendKey(f *testing.F) {
	f.Add("\x00:\x00", "x:\x00y", "x\x00:y", uint32(0), uint32(0))     // the limit keys' collision
	f.Add("\x00\x00", "xy\x00", "x\x00y", uint32(0), uint32(0))        // side by side
	f.Add("\x00:\x00", "x\x00", "x\x00", uint32(0), uint32(2))         // empty against absent
	f.Add("\x00", "3,|abc", "abc", uint32(0), uint32(0))               // a value like a shape
	f.Add("-,|\x00,\x00|", "1,\x00|", "1\x00,|", uint32(0), uint32(0)) // literals like a shape
	f.Add("{\x00}}\x00{{", "}\x00{", "}{\x00", uint32(1), uint32(0))   // braces
	f.Add(strings.Repeat("\x00", 20), strings.Repeat("a\x00", 20), strings.Repeat("\x00a", 20), uint32(0), uint32(1<<19))
	f.Add(strings.Repeat(":\x00", 17), strings.Repeat("ab\x00", 17), strings.Repeat("a\x00b", 17), uint32(0xffff), uint32(0))
	f.Add("rate:\x00", strings.Repeat("x", 300), strings.Repeat("x", 299), uint32(0), uint32(0))
	x := testCtx(f, sampleRequest)
	f.Fuzz(func(t *testing.T, lits, a, b string, absentA, absentB uint32) {
		segs := strings.Split(lits, "\x00")
		if len(segs) > 21 {
			segs = segs[:21]
		}
		vars := len(segs) - 1
		tp := keyTestTemplate(t, segs)
		key := func(vals []keyTestValue) (string, int) {
			keyTestValues = vals
			k, missing := tp.AppendKey([]byte("pre"), x)
			if !strings.HasPrefix(string(k), "pre") {
				t.Fatalf("AppendKey changed dst: %q", k)
			}
			plain, plainMissing := tp.appendKeyTwoPass(nil, x)
			if string(k[3:]) != string(plain) || missing != plainMissing {
				t.Fatalf("AppendKey %q (%d missing), two passes %q (%d missing)", k[3:], missing, plain, plainMissing)
			}
			return string(k[3:]), missing
		}
		ta, tb := keyTestTuple(a, absentA, vars), keyTestTuple(b, absentB, vars)
		ka, missing := key(ta)
		kb, _ := key(tb)
		got, ok := decodeKey(segs, ka)
		if !ok || !sameTuple(got, ta) || len(got) != len(ta) {
			t.Fatalf("key %q of %+v reads back as %+v (%v)", ka, ta, got, ok)
		}
		if (ka == kb) != sameTuple(ta, tb) {
			t.Fatalf("tuples %+v and %+v: keys %q and %q", ta, tb, ka, kb)
		}
		var text strings.Builder
		absent := 0
		for i, l := range segs {
			text.WriteString(l)
			if i < vars && !ta[i].absent {
				text.WriteString(ta[i].v)
			} else if i < vars {
				absent++
			}
		}
		if string(KeyText([]byte(ka))) != text.String() || missing != absent {
			t.Fatalf("key %q: text %q, %d missing; want %q, %d", ka, KeyText([]byte(ka)), missing, text.String(), absent)
		}
	})
}
