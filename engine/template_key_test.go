package engine

import (
	"strings"
	"testing"
)

func TestTemplateAppendKey(t *testing.T) {
	x := testCtx(t, sampleRequest)
	alice := &Consumer{Name: "alice"}
	for _, c := range []struct {
		tpl      string
		consumer *Consumer
		want     string
		missing  int
	}{
		{"{consumer}:{arg_page}", alice, "5,1,|alice:3", 0},
		{"{consumer}:{arg_page}", nil, "-,1,|:3", 1},
		{"{arg_flag}{arg_none}", nil, "0,-,|", 1}, // an empty value, then none
		{"{{lit}} {http_x_tenant}/{cookie_session}", nil, "4,3,|{lit} acme/abc", 0},
		{"static", nil, "|static", 0},
		{"", nil, "|", 0},
	} {
		tp, err := ParseTemplate(c.tpl)
		if err != nil {
			t.Fatalf("%q: %v", c.tpl, err)
		}
		x.SetConsumer(c.consumer)
		got, missing := tp.AppendKey([]byte("pre|"), x)
		if string(got) != "pre|"+c.want || missing != c.missing {
			t.Errorf("%q: %q, %d missing; want %q, %d", c.tpl, got, missing, "pre|"+c.want, c.missing)
		}
		if text := KeyText(got[len("pre|"):]); string(text) != strings.TrimPrefix(c.want, c.want[:strings.IndexByte(c.want, '|')+1]) {
			t.Errorf("%q: KeyText %q", c.tpl, text)
		}
		if text, _ := tp.Append(nil, x); string(KeyText(got[len("pre|"):])) != string(text) {
			t.Errorf("%q: KeyText %q, Append %q", c.tpl, KeyText(got[len("pre|"):]), text)
		}
	}
}

// The tuples that Append joins into one text (the limit keys' collision:
// a client choosing one value counted against another client's counter)
// get distinct keys; equal tuples still share one.
func TestTemplateAppendKeyWhereAppendCollides(t *testing.T) {
	for _, c := range []struct{ name, tpl, target, target2 string }{
		{"a value holding the literal", "{arg_a}:{arg_b}", "/k?a=x:&b=y", "/k?a=x&b=:y"},
		{"variables side by side", "{arg_a}{arg_b}", "/k?a=xy&b=", "/k?a=x&b=y"},
		{"an absent value against an empty one", "{arg_a}:{arg_b}", "/k?a=x&b=", "/k?a=x"},
		{"three values, one moved between two", "{arg_a}/{arg_b}/{arg_c}", "/k?a=1/2&b=3&c=4", "/k?a=1&b=2/3&c=4"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tp, err := ParseTemplate(c.tpl)
			if err != nil {
				t.Fatal(err)
			}
			x1 := testCtx(t, "GET "+c.target+" HTTP/1.1\r\nHost: a\r\n\r\n")
			x2 := testCtx(t, "GET "+c.target2+" HTTP/1.1\r\nHost: a\r\n\r\n")
			text1, _ := tp.Append(nil, x1)
			text2, _ := tp.Append(nil, x2)
			k1, _ := tp.AppendKey(nil, x1)
			k2, _ := tp.AppendKey(nil, x2)
			if string(text1) != string(text2) {
				t.Fatalf("Append gives %q and %q: the case does not collide", text1, text2)
			}
			if string(k1) == string(k2) {
				t.Fatalf("%s and %s share the key %q", c.target, c.target2, k1)
			}
			if again, _ := tp.AppendKey(nil, testCtx(t, "GET "+c.target+" HTTP/1.1\r\nHost: b\r\n\r\n")); string(again) != string(k1) {
				t.Fatalf("equal values: keys %q and %q", k1, again)
			}
		})
	}
}

// BenchmarkTemplateKey measures AppendKey against Append (the plain
// text, not injective: the baseline) and the two-pass evaluation (the
// simplest injective version), for templates of 2 and 6 variables and of
// 20 (past keyInlineVars: two passes).
func BenchmarkTemplateKey(b *testing.B) {
	x := testCtx(b, sampleRequest)
	x.SetConsumer(&Consumer{Name: "alice"})
	tpls := []struct{ name, src string }{
		{"2-vars", "{consumer}:{arg_page}"},
		{"6-vars", "{consumer}:{arg_page}:{http_x_tenant}:{cookie_theme}:{remote_addr}:{arg_none}"},
		{"20-vars", strings.Repeat("{arg_page}:{http_x_tenant}:", 10)},
	}
	for _, tc := range tpls {
		tp, err := ParseTemplate(tc.src)
		if err != nil {
			b.Fatal(err)
		}
		for _, m := range []struct {
			name string
			f    func(dst []byte) []byte
		}{
			{"Append", func(dst []byte) []byte { dst, _ = tp.Append(dst, x); return dst }},
			{"AppendKey", func(dst []byte) []byte { dst, _ = tp.AppendKey(dst, x); return dst }},
			{"two-pass", func(dst []byte) []byte { dst, _ = tp.appendKeyTwoPass(dst, x); return dst }},
		} {
			b.Run(tc.name+"/"+m.name, func(b *testing.B) {
				buf := make([]byte, 0, 512)
				b.ReportAllocs()
				for b.Loop() {
					buf = m.f(buf[:0])
				}
			})
		}
	}
}
