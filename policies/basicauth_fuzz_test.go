package policies_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/engine/enginetest"
	"github.com/sluice-gw/sluice/http1"
)

// FuzzBasicAuth sends basic-auth any Authorization fields (the lines of
// value; the first one counts) and then user:pass encoded as RFC 7617
// says, and checks the answers against the RFC written apart: a request is
// let through, as its consumer, exactly when its first Authorization is
// the scheme Basic (any case) and base64 of a known username, a colon and
// its password; any other gets a 401 with the challenge, never another
// status, a hang or a crash. Encoding user and pass and decoding them is
// the identity: a known pair always gets in. A head over the parser's
// limits is a 431 whatever its Authorization says.
func FuzzBasicAuth(f *testing.F) {
	consumers := basicConsumers(f)
	b64 := base64.StdEncoding.EncodeToString
	for _, s := range []string{
		"Basic " + b64([]byte("alice:alice-password")), "bAsIc " + b64([]byte("bob:p:with:colons")),
		"Basic  " + b64([]byte("alice:alice-password")) + " \t", "Basic\t" + b64([]byte("alice:alice-password")),
		"Basic " + strings.TrimRight(b64([]byte("alice:alice-password")), "="), "Basic " + b64([]byte("alice:alice-password")) + "==",
		"Basic " + base64.URLEncoding.EncodeToString([]byte("alice:alice-password>?")), "Basic " + b64([]byte("alice")),
		"Basic " + b64([]byte(":alice-password")), "Basic " + b64([]byte("alice:")), "Basic " + b64([]byte("alice:alice-password\x00")),
		"Basic " + b64(make([]byte, 1023)), "Basic " + b64(make([]byte, 1024)), "Basic " + b64(make([]byte, 1025)),
		"Basic", "Basic ", "Basic !!!", "Bearer abc", "", "Basic " + b64([]byte("alice:alice-password")) + "\nBasic !!!",
		"Basic !!!\nBasic " + b64([]byte("alice:alice-password")), "Basic " + b64([]byte("\u00e9l\u00efce:\xff\xfe")),
	} {
		f.Add(s, "alice", "alice-password")
	}
	// The parser's limits, on either side: 99 and 100 Authorization
	// fields beside Host (100 fields at most), a field line of 8192 and
	// 8193 bytes, and a pair whose encoding is too long a line.
	f.Add(strings.Repeat("Basic !!!\n", 98)+"Basic !!!", "alice", "alice-password")
	f.Add(strings.Repeat("Basic !!!\n", 99)+"Basic !!!", "alice", "alice-password")
	f.Add("Basic "+strings.Repeat("A", http1.DefaultMaxFieldLine-len("Authorization: Basic ")), "alice", "alice-password")
	f.Add("Basic "+strings.Repeat("A", http1.DefaultMaxFieldLine-len("Authorization: Basic ")+1), "alice", "alice-password")
	f.Add("", "alice", strings.Repeat("p", 6200))
	f.Add("", "bob", "p:with:colons")
	f.Add("", "alice:alice-password", "")
	f.Add("", "", "")
	f.Add("", "alice", "alice-password\x00")
	known := map[string]string{"alice:alice-password": "alice", "bob:p:with:colons": "bob"}
	f.Fuzz(func(t *testing.T, value, user, pass string) {
		var fields []string
		if value != "" {
			for _, v := range strings.Split(value, "\n") {
				if !http1.ValidFieldValue(v) {
					return // not a field a parser lets through
				}
				fields = append(fields, "Authorization: "+v)
			}
		}
		g := authGateway(t, "      - name: basic-auth\n", consumers)
		want := ""
		if len(fields) > 0 {
			first := strings.TrimPrefix(fields[0], "Authorization: ")
			if len(first) >= 6 && strings.EqualFold(first[:6], "basic ") {
				if dec, err := base64.StdEncoding.DecodeString(strings.Trim(first[6:], " \t")); err == nil {
					want = known[string(dec)]
				}
			}
		}
		checkBasic(t, g, fields, want)
		checkBasic(t, g, []string{"Authorization: Basic " + b64([]byte(user+":"+pass))}, known[user+":"+pass])
	})
}

// headTooLarge says whether the parser refuses a request of get's shape
// with these fields before any policy runs (431), by http1's default
// limits, which the test gateways keep.
func headTooLarge(fields []string) bool {
	head := len("GET / HTTP/1.1\r\nHost: api.test\r\n\r\n")
	for _, f := range fields {
		if len(f) > http1.DefaultMaxFieldLine {
			return true
		}
		head += len(f) + 2
	}
	return head > http1.DefaultMaxHeadBytes || len(fields)+1 > http1.DefaultMaxFields
}

// checkBasic sends fields and checks that consumer (none: "") got in; a
// head over the parser's limits gets its 431 instead.
func checkBasic(t *testing.T, g *enginetest.Gateway, fields []string, consumer string) {
	t.Helper()
	resp, up, body := get(t, g, "/", fields...)
	if headTooLarge(fields) {
		expectStatus(t, resp, body, 431, "alice-password", "p:with:colons")
		return
	}
	if consumer == "" {
		expectStatus(t, resp, body, 401, "alice-password", "p:with:colons")
		if h := resp.Header.Get("WWW-Authenticate"); h != `Basic realm="sluice"` {
			t.Fatalf("%q: WWW-Authenticate %q", fields, h)
		}
		return
	}
	expectStatus(t, resp, body, 200)
	if got := up.Header.Get("X-Consumer-Name"); got != consumer {
		t.Fatalf("%q: consumer %q, want %q", fields, got, consumer)
	}
}
