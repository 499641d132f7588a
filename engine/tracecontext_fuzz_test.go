package engine_test

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/engine/enginetest"
	"github.com/sluice-gw/sluice/http1"
	"github.com/sluice-gw/sluice/policies"
)

// w3cTraceparent is the W3C trace context grammar (§3.2), written from the
// specification apart from ValidTraceparent: version 2 lower-case hex, not
// ff; a trace id of 32 and a parent id of 16 lower-case hex digits, neither
// all zeros; flags 2 lower-case hex; version 00 ends there, a later version
// may go on after a '-'.
func w3cTraceparent(v string) bool {
	hex := func(s string) bool {
		return s != "" && strings.Trim(s, "0123456789abcdef") == ""
	}
	parts := strings.SplitN(v, "-", 5)
	if len(parts) < 4 {
		return false
	}
	version, trace, parent, flags := parts[0], parts[1], parts[2], parts[3]
	if len(version) != 2 || !hex(version) || version == "ff" ||
		len(trace) != 32 || !hex(trace) || trace == strings.Repeat("0", 32) ||
		len(parent) != 16 || !hex(parent) || parent == strings.Repeat("0", 16) ||
		len(flags) != 2 || !hex(flags) {
		return false
	}
	return version != "00" || len(parts) == 4
}

// traceGateway is an in-process gateway with trace.start on whose upstream
// reports the traceparent and tracestate fields it got, in order.
func traceGateway(t *testing.T) (*enginetest.Gateway, *http.Header) {
	got := new(http.Header)
	g := enginetest.New(t, `listen: 127.0.0.1:1
workers: 1
trace: { start: true }
upstreams: [ { name: up, targets: [ { addr: "127.0.0.1:2" } ] } ]
routes: [ { match: { paths: ["/*"] }, upstream: up } ]
`, policies.Build, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { *got = r.Header.Clone() }))
	return g, got
}

// FuzzTraceparent checks the trace context a client sends with trace.start
// on. ValidTraceparent agrees with the specification's grammar on any
// bytes. Through the gateway (traceparent fields split at '\n', a
// tracestate beside them): the upstream always gets exactly one
// traceparent, and a well-formed one; the client's passes unchanged, with
// its tracestate, when it sent exactly one and it is valid; otherwise the
// gateway's own (version 00, not sampled) replaces every one sent, and the
// tracestate, which belongs to no trace then, is dropped (W3C trace
// context §3.3; two traceparent fields are no valid one: the W3C test
// suite's test_traceparent_duplicated).
func FuzzTraceparent(f *testing.F) {
	const valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, s := range []string{
		valid, "", "\n",
		"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future-parts",
		"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"02-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
		"00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
		"00-4bf92f3577b34da6a3ce929d0e0e47-3600f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\x00",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-\u00e9",
		"\xff\xfe" + strings.Repeat("-", 60),
		strings.Repeat("0", 4096),
	} {
		f.Add(s, "vendor=abc")
	}
	f.Add("garbage\n"+valid, "a=1,b=2")
	// Two fields, both valid: kept, both reached the upstream and the log
	// had the first's trace id.
	f.Add(valid+"\n"+valid, "")
	f.Add("00-12345678901234567890123456789011-1234567890123456-01\n00-12345678901234567890123456789012-1234567890123456-01", "a=1")
	f.Add(valid+"\ngarbage", "a=1")
	f.Fuzz(func(t *testing.T, traceparents, tracestate string) {
		sent := strings.Split(traceparents, "\n")
		if traceparents == "" {
			sent = nil
		}
		for _, v := range sent {
			if got, want := engine.ValidTraceparent([]byte(v)), w3cTraceparent(v); got != want {
				t.Fatalf("ValidTraceparent(%q) = %v, the grammar says %v", v, got, want)
			}
		}
		if !slices.ContainsFunc(sent, func(v string) bool { return !http1.ValidFieldValue(v) }) && http1.ValidFieldValue(tracestate) {
			checkTraceForwarded(t, sent, tracestate)
		}
	})
}

// checkTraceForwarded sends the traceparent fields sent (and tracestate,
// when not empty) through a gateway with trace.start on and checks what
// its upstream got.
func checkTraceForwarded(t *testing.T, sent []string, tracestate string) {
	g, got := traceGateway(t)
	var req bytes.Buffer
	req.WriteString("GET / HTTP/1.1\r\nHost: a\r\n")
	for _, v := range sent {
		req.WriteString("traceparent: " + v + "\r\n")
	}
	if tracestate != "" {
		req.WriteString("tracestate: " + tracestate + "\r\n")
	}
	req.WriteString("\r\n")
	if resp := g.Do(req.String()); resp.StatusCode != 200 {
		t.Fatalf("%q: status %d", req.String(), resp.StatusCode)
	}
	tps := got.Values("Traceparent")
	if len(tps) != 1 || !w3cTraceparent(tps[0]) {
		t.Fatalf("sent traceparent %q: the upstream got %q", sent, tps)
	}
	if len(sent) == 1 && w3cTraceparent(sent[0]) {
		if tps[0] != sent[0] || got.Get("Tracestate") != tracestate {
			t.Fatalf("a valid traceparent %q, tracestate %q reached the upstream as %q, %q", sent[0], tracestate, tps[0], got.Values("Tracestate"))
		}
		return
	}
	if tp := tps[0]; len(tp) != 55 || !strings.HasPrefix(tp, "00-") || !strings.HasSuffix(tp, "-00") || slices.Contains(sent, tp) {
		t.Fatalf("sent traceparent %q: the upstream got %q, not one the gateway started", sent, tp)
	}
	if ts := got.Values("Tracestate"); len(ts) != 0 {
		t.Fatalf("sent traceparent %q: the tracestate %q of no trace reached the upstream", sent, ts)
	}
}
