package policies

import (
	"bytes"
	"testing"
	"unicode"
	"unsafe"
)

// FuzzParseSignature checks parseSignature on any Authorization value a
// client may send: it never panics, it is deterministic, an accepted value
// has both a keyId and a signature, every field is a view into the input
// that a "name=" names (the last one written wins), quoted fields hold no
// quote and bare ones no comma or edge blanks, and the fields written back
// in the canonical form parse to the same fields.
func FuzzParseSignature(f *testing.F) {
	for _, s := range []string{
		`keyId="k1",algorithm="hmac-sha256",headers="@request-target date",signature="c2ln"`,
		`keyId="k1", algorithm="hmac-sha512", headers="(request-target) host date digest", signature="YWJjZA=="`,
		`keyId=k1,signature=c2ln`,
		` , keyId = k1 ,, signature = "c2ln" , `,
		`keyId="k1",keyId="k2",signature="a",signature="b"`,
		`keyId="",signature=""`,
		`keyId="k1,signature="x`,
		`keyId="k1" signature="x"`,
		`keyId="a"b,signature="x"`,
		`signature="x",`, // accepted with no keyId: the blank-rest exit did not ask for one
		`signature="x" `,
		`keyId="k1",`,
		`=`, `==`, `,=,`, `"`, `""`, `keyId`, `keyId=`, `keyId=",signature=x`,
		"keyId=\"k\x00\",signature=\"\xff\xfe\"",
		"keyId=\"\u00e9\u00e8\",signature=\"s\"",
		"keyId=k\t,\tsignature=s\t",
		`keyId="k",signature="s",headers="date` + string(bytes.Repeat([]byte(" x-a"), 500)) + `"`,
		`keyId=99999999999999999999999999999999999999,signature=00000000000000000000000000000000000000`,
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		sp, ok := parseSignature(v)
		again, ok2 := parseSignature(v)
		if ok != ok2 || !sameSignatureParams(sp, again) {
			t.Fatalf("%q: not deterministic", v)
		}
		if !ok {
			return
		}
		if sp.keyID == nil || sp.signature == nil {
			t.Fatalf("%q accepted without a keyId or a signature: %q", v, sp)
		}
		for _, fld := range []struct {
			name string
			val  []byte
		}{{"keyId", sp.keyID}, {"algorithm", sp.algorithm}, {"headers", sp.headers}, {"signature", sp.signature}} {
			if fld.val == nil {
				continue
			}
			off, in := offsetIn(v, fld.val)
			if !in {
				t.Fatalf("%q: %s %q is not a view into the input", v, fld.name, fld.val)
			}
			checkSignatureField(t, v, off, fld.name, fld.val)
		}
		if bytes.IndexByte(sp.keyID, '"') >= 0 || bytes.IndexByte(sp.algorithm, '"') >= 0 ||
			bytes.IndexByte(sp.headers, '"') >= 0 || bytes.IndexByte(sp.signature, '"') >= 0 {
			return // a bare value may hold a quote; the canonical form cannot carry it
		}
		var canon []byte
		canon = append(append(append(canon, `keyId="`...), sp.keyID...), `",signature="`...)
		canon = append(append(canon, sp.signature...), '"')
		if sp.algorithm != nil {
			canon = append(append(append(canon, `,algorithm="`...), sp.algorithm...), '"')
		}
		if sp.headers != nil {
			canon = append(append(append(canon, `,headers="`...), sp.headers...), '"')
		}
		back, ok := parseSignature(canon)
		if !ok || !sameSignatureParams(sp, back) {
			t.Fatalf("%q: canonical form %q parses to %q (%v), want %q", v, canon, back, ok, sp)
		}
	})
}

// checkSignatureField checks that the field at v[off:] was written as
// name=value or name="value".
func checkSignatureField(t *testing.T, v []byte, off int, name string, val []byte) {
	t.Helper()
	before := v[:off]
	quoted := len(before) > 0 && before[len(before)-1] == '"'
	if quoted {
		if end := off + len(val); end >= len(v) || v[end] != '"' || bytes.IndexByte(val, '"') >= 0 {
			t.Fatalf("%q: quoted %s %q is not closed by its first quote", v, name, val)
		}
		before = before[:len(before)-1]
	} else if bytes.IndexByte(val, ',') >= 0 || len(bytes.TrimSpace(val)) != len(val) {
		t.Fatalf("%q: bare %s %q holds a comma or edge blanks", v, name, val)
	}
	before = bytes.TrimRightFunc(before, unicode.IsSpace)
	if !bytes.HasSuffix(before, []byte("=")) || !bytes.HasSuffix(bytes.TrimRightFunc(before[:len(before)-1], unicode.IsSpace), []byte(name)) {
		t.Fatalf("%q: %s %q does not follow %s=", v, name, val, name)
	}
}

// offsetIn says where sub starts in v, and whether it lies within v.
func offsetIn(v, sub []byte) (int, bool) {
	base := uintptr(unsafe.Pointer(unsafe.SliceData(v)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(sub)))
	if p < base || p+uintptr(len(sub)) > base+uintptr(len(v)) {
		return 0, false
	}
	return int(p - base), true
}

func sameSignatureParams(a, b signatureParams) bool {
	return bytes.Equal(a.keyID, b.keyID) && bytes.Equal(a.algorithm, b.algorithm) &&
		bytes.Equal(a.headers, b.headers) && bytes.Equal(a.signature, b.signature) &&
		(a.keyID == nil) == (b.keyID == nil) && (a.signature == nil) == (b.signature == nil) &&
		(a.algorithm == nil) == (b.algorithm == nil) && (a.headers == nil) == (b.headers == nil)
}
