package discovery

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseKVValue checks parseKVValue, which reads a value Consul's KV
// store hands the gateway, against the rules docs/configuration.md gives
// (nginx-upsync's layout), written apart: never a panic; a blank value is
// the defaults; otherwise a JSON object whose weight, max_fails,
// fail_timeout, down and backup are each an integer number or a numeric
// string (down and backup also true or false) within bounds, other
// members ignored; anything else an ErrBadValue. Accepted targets keep
// their address and key.
func FuzzParseKVValue(f *testing.F) {
	for _, s := range []string{
		``, ` `, "\n\t", `{}`, `{"weight":1,"max_fails":2,"fail_timeout":10,"down":0,"backup":0}`,
		`{"weight":"7","max_fails":"0","fail_timeout":" 5 ","down":"1","backup":"0"}`,
		`{"down":true,"backup":false}`, `{"down":"true"}`,
		// Booleans were read as 1 and 0 in every field: max_fails: false
		// turned the passive health rule off, fail_timeout: true was 1s.
		`{"weight":true}`, `{"max_fails":false}`, `{"fail_timeout":true}`,
		`{"weight":1000000}`, `{"weight":1000001}`, `{"weight":0}`, `{"weight":-1}`, `{"weight":"+5"}`, `{"weight":"05"}`,
		`{"weight":1.0}`, `{"weight":1e2}`, `{"weight":"1e2"}`, `{"weight":99999999999999999999999}`, `{"weight":null}`,
		`{"weight":[1]}`, `{"weight":{}}`, `{"weight":"\u0035"}`, `{"weight":2,"weight":3}`, `{"Weight":0}`,
		`{"max_fails":1048576}`, `{"max_fails":1048577}`, `{"fail_timeout":16777216}`, `{"fail_timeout":16777217}`,
		`{"fail_timeout":"10s"}`, `{"down":2}`, `{"backup":-1}`, `{"slow_start":"x"}`,
		`null`, ` null `, // taken for upsync's defaults, as an empty value
		`[]`, `[{}]`, `"x"`, `1`, `true`, `{`, `{"weight":1}{}`, `{"weight":1} x`, "\u00a0{}\u00a0", "{\"weight\":\"\x00\"}",
		"{\"\xff\":1}", `{"weight":"` + strings.Repeat("9", 400) + `"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, value []byte) {
		const addr, key = "10.0.0.1:8080", "upstreams/test/10.0.0.1:8080"
		got, err := parseKVValue(addr, key, value)
		want, ok := upsyncValue(value)
		if err != nil {
			if !errors.Is(err, ErrBadValue) {
				t.Fatalf("%q: error %v is not an ErrBadValue", value, err)
			}
			if ok {
				t.Fatalf("%q refused (%v); the documented rules accept it as %+v", value, err, want)
			}
			return
		}
		if !ok {
			t.Fatalf("%q accepted as %+v; the documented rules refuse it", value, got)
		}
		want.Addr, want.From = addr, key
		if got != want {
			t.Fatalf("%q: %+v, want %+v", value, got, want)
		}
	})
}

// jsonInteger is an integer as JSON writes it: no fraction, no exponent.
var jsonInteger = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)

// upsyncValue reads value by the documented rules, through a generic JSON
// decoding rather than parseKVValue's.
func upsyncValue(value []byte) (Target, bool) {
	t := defaultTarget("", "")
	value = bytes.TrimSpace(value)
	if len(value) == 0 {
		return t, true
	}
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.UseNumber()
	var doc any
	if dec.Decode(&doc) != nil || dec.InputOffset() != int64(len(value)) {
		return t, false
	}
	obj, isObject := doc.(map[string]any)
	if !isObject {
		return t, false
	}
	var down, backup int
	for _, fld := range []struct {
		name    string
		dst     *int
		lo, hi  int
		boolean bool
	}{
		{"weight", &t.Weight, 1, 1_000_000, false},
		{"max_fails", &t.MaxFails, 0, 1 << 20, false},
		{"fail_timeout", &t.FailTimeoutSeconds, 0, 1 << 24, false},
		{"down", &down, 0, 1, true},
		{"backup", &backup, 0, 1, true},
	} {
		v, present := obj[fld.name]
		if !present {
			continue
		}
		var n int
		var err error
		switch v := v.(type) {
		case json.Number:
			if !jsonInteger.MatchString(string(v)) {
				return t, false
			}
			n, err = strconv.Atoi(string(v))
		case string:
			n, err = strconv.Atoi(strings.TrimSpace(v))
		case bool:
			if !fld.boolean {
				return t, false
			}
			if v {
				n = 1
			}
		default:
			return t, false
		}
		if err != nil || n < fld.lo || n > fld.hi {
			return t, false
		}
		*fld.dst = n
	}
	t.Down, t.Backup = down == 1, backup == 1
	return t, true
}
