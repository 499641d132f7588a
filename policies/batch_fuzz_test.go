package policies

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/http1"
)

// FuzzBatchParse checks the batch-requests body parser on any body a client
// may POST, under any max_requests: it never panics, it is deterministic,
// it never returns more items than the cap, every problem is a sentence,
// and a batch it accepts (no problems) holds only items the gateway can
// send as they are: a token method in upper case, a target of a path
// starting with '/' and its query with no spaces or control bytes, fields
// that are valid and not the gateway's own, a body that decodes, a
// timeout that is not negative and counts whole milliseconds, as sent.
func FuzzBatchParse(f *testing.F) {
	for _, s := range []string{
		`[{"method":"GET","path":"/a"}]`,
		`[{"path":"/a","query":{"x":"1 2","y":"\u00e9"},"headers":{"X-A":"b"},"body":"text"},{"method":"post","path":"/b?c=d","query":"e=f","body":{"k":[1,2]}}]`,
		`{"headers":{"Authorization":"Bearer t"},"timeout":1500,"pipeline":[{"path":"/a"}]}`,
		`{"timeout":-1,"pipeline":[{"path":"/a"}]}`,
		`{"pipeline":null}`, `{"pipeline":[]}`, `[]`, `{}`, `[{}]`, `null`, `"x"`, `1`, ``, `   `,
		`[{"path":"/a"}] [{"path":"/b"}]`, `[{"path":"/a"}]x`, `[{"path":"/a","extra":1}]`,
		`[{"path":"a"}]`, `[{"path":"/a b"}]`, `[{"path":"/a#frag"}]`, "[{\"path\":\"/\\u0000\"}]",
		`[{"path":"/a","method":"G ET"}]`, `[{"path":"/a","method":"\u0131"}]`, `[{"path":"/a","method":"ǆ"}]`,
		`[{"path":"/a","headers":{"Host":"x"}}]`, `[{"path":"/a","headers":{"Content-Length":"1"}}]`,
		`[{"path":"/a","headers":{"X-Sluice-Batch":"1"}}]`, `[{"path":"/a","headers":{"X-A":"b\r\nc"}}]`,
		`[{"path":"/a","headers":{"":"b"}}]`, `[{"path":"/a","query":"a b"}]`, `[{"path":"/a","query":["a"]}]`,
		`[{"path":"/a","query":{"a":1}}]`, `[{"path":"/a","body":"\ud800"}]`, `[{"path":"/a","body":"unterminated}]`,
		`{"timeout":99999999999999999999,"pipeline":[{"path":"/a"}]}`,
		// Milliseconds that overflowed a Duration: -1ms, then 448384ns, for
		// timeouts of 292 million and 584 years.
		`{"timeout":9223372036854775807,"pipeline":[{"path":"/a"}]}`, `{"timeout":18446744073710,"pipeline":[{"path":"/a"}]}`,
		`[{"PATH":"/a","Method":"get"}]`, `[{"path":"/a","path":"/b"}]`,
		`[` + strings.Repeat(`{"path":"/a"},`, 120) + `{"path":"/a"}]`,
		`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
		"[{\"path\":\"/\xff\xfe\"}]",
	} {
		f.Add([]byte(s), uint8(19))
	}
	f.Add([]byte(`[{"path":"/a"},{"path":"/b"}]`), uint8(0))
	f.Fuzz(func(t *testing.T, body []byte, maxRequests uint8) {
		p := &batch{maxRequests: 1 + int(maxRequests)%100}
		items, common, timeout, problems := p.parse(append([]byte(nil), body...))
		items2, common2, timeout2, problems2 := p.parse(append([]byte(nil), body...))
		if !reflect.DeepEqual(items, items2) || !reflect.DeepEqual(common, common2) || timeout != timeout2 || !reflect.DeepEqual(problems, problems2) {
			t.Fatalf("%q: not deterministic", body)
		}
		if len(items) > p.maxRequests {
			t.Fatalf("%q: %d items, cap %d", body, len(items), p.maxRequests)
		}
		for _, why := range problems {
			if strings.TrimSpace(why) == "" {
				t.Fatalf("%q: a blank problem in %q", body, problems)
			}
		}
		if len(problems) > 0 {
			return
		}
		if len(items) == 0 || timeout < 0 || timeout%time.Millisecond != 0 {
			t.Fatalf("%q accepted with %d items, timeout %v", body, len(items), timeout)
		}
		for n, v := range common {
			if batchFieldProblem(n, v) != "" {
				t.Fatalf("%q: common field %q: %q accepted", body, n, v)
			}
		}
		for i := range items {
			it := &items[i]
			if it.Method == "" || it.Method != strings.ToUpper(it.Method) || !http1.ValidFieldName(it.Method) {
				t.Fatalf("%q: item %d: method %q accepted", body, i, it.Method)
			}
			q, err := batchQuery(it.Query)
			if err != nil {
				t.Fatalf("%q: item %d: query %s accepted: %v", body, i, it.Query, err)
			}
			if target := it.Path + "?" + q; !strings.HasPrefix(target, "/") || !validTargetBytes(target) {
				t.Fatalf("%q: item %d: target %q accepted", body, i, target)
			}
			for n, v := range it.Headers {
				if batchFieldProblem(n, v) != "" || !http1.ValidFieldValue(v) {
					t.Fatalf("%q: item %d: field %q: %q accepted", body, i, n, v)
				}
			}
			if _, err := batchBody(it.Body); err != nil {
				t.Fatalf("%q: item %d: body %s accepted: %v", body, i, it.Body, err)
			}
		}
	})
}
