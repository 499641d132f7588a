package http1

import (
	"strings"
	"testing"
)

// TestTables checks the byte tables against a direct reading of the grammar,
// written differently from buildCharClass on purpose.
func TestTables(t *testing.T) {
	const (
		alpha = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		digit = "0123456789"
	)
	token := alpha + digit + "!#$%&'*+-.^_`|~"
	for c := 0; c < 256; c++ {
		b := byte(c)
		isToken := strings.IndexByte(token, b) >= 0
		if (charClass[c]&classToken != 0) != isToken {
			t.Errorf("token(%#x) = %v", c, !isToken)
		}
		isValue := c == '\t' || c == ' ' || (c > 0x20 && c != 0x7f)
		if (charClass[c]&classValue != 0) != isValue {
			t.Errorf("value(%#x) = %v", c, !isValue)
		}
		isTarget := c > 0x20 && c < 0x7f && c != '#'
		if (charClass[c]&classTarget != 0) != isTarget {
			t.Errorf("target(%#x) = %v", c, !isTarget)
		}
		isHost := strings.IndexByte(alpha+digit+"-._~!$&'()*+;=:[]%", b) >= 0
		if (charClass[c]&classHost != 0) != isHost {
			t.Errorf("host(%#x) = %v", c, !isHost)
		}
		if want := strings.ToLower(string(rune(c))); c < 0x80 && string(toLower[c]) != want {
			t.Errorf("toLower(%#x) = %#x", c, toLower[c])
		}
		if c >= 0x80 && toLower[c] != b {
			t.Errorf("toLower(%#x) changed a non-ASCII byte", c)
		}
		wantHex := byte(0xff)
		if i := strings.IndexByte("0123456789abcdef", byte(strings.ToLower(string(rune(c)))[0])); c < 0x80 && i >= 0 {
			wantHex = byte(i)
		}
		if hexValue[c] != wantHex {
			t.Errorf("hexValue(%#x) = %#x, want %#x", c, hexValue[c], wantHex)
		}
	}
}

// TestCheckFieldValueWords checks the eight-bytes-at-a-time path against the
// byte loop for every invalid byte at every position of a 24-byte value.
func TestCheckFieldValueWords(t *testing.T) {
	base := []byte("abcdefgh\tjklmnopqrstu\xffw")
	if err := checkFieldValue(base); err != nil {
		t.Fatalf("valid value refused: %v", err)
	}
	for c := 0; c < 256; c++ {
		for pos := range base {
			v := append([]byte(nil), base...)
			v[pos] = byte(c)
			if got, want := checkFieldValue(v), checkValueBytes(v); got != want {
				t.Fatalf("byte %#x at %d: word path %v, byte path %v", c, pos, got, want)
			}
		}
	}
}
