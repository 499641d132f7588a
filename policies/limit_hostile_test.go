package policies_test

import (
	"fmt"
	"strings"
	"testing"
)

// TestLimitHostileKeyValues counts requests by values a client chooses,
// as long and as odd as the request head lets them be: values longer
// together than a shared dict's key may be (ten fields of 8 KB in one
// template), or of any byte a field may carry, count like any other,
// apart from their neighbours, and never let a request through uncounted.
func TestLimitHostileKeyValues(t *testing.T) {
	var tpl, fields, others []string
	for i := 0; i < 10; i++ {
		tpl = append(tpl, fmt.Sprintf("{http_x_k%d}", i))
		fields = append(fields, fmt.Sprintf("X-K%d: %s", i, strings.Repeat(string(rune('a'+i)), 8000)))
		others = append(others, fmt.Sprintf("X-K%d: %s", i, strings.Repeat(string(rune('a'+i)), 7999)))
	}
	long := strings.Repeat("k", 8000)
	for _, tc := range []struct {
		name, key      string
		value, other   []string
		target, other2 string
	}{
		{"ten fields of 8 KB in a template", strings.Join(tpl, ":"), fields, others, "/", "/"},
		{"a field of 8 KB", "header:X-K", []string{"X-K: " + long}, []string{"X-K: " + long + "x"}, "/", "/"},
		{"a query argument of 8 KB", "arg:k", nil, nil, "/?k=" + long, "/?k=x" + long},
		{"percent-encoded controls", "arg:k", nil, nil, "/?k=%00%0d%0a%ff", "/?k=%00%0d%0a%fe"},
		{"obs-text, braces and bars", "header:X-K", []string{"X-K: \xff\xfe}{|"}, []string{"X-K: \xff\xfe}{"}, "/", "/"},
		{"cookie with braces and bars", "cookie:c", []string{"Cookie: c=}|{"}, []string{"Cookie: c=}|"}, "/", "/"},
	} {
		for _, policy := range []string{"limit-count, config: { count: 1, window: 1h", "limit-req, config: { rate: 1r/m, burst: 0, nodelay: true"} {
			name, _, _ := strings.Cut(policy, ",")
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				g := limitGateway(t, "client: { max_head_bytes: 1MiB }\n", fmt.Sprintf("      - { name: %s, key: %q } }\n", policy, tc.key))
				if got := fmt.Sprint(limitGet(g, tc.target, tc.value...).StatusCode, limitGet(g, tc.target, tc.value...).StatusCode); got != "200 429" {
					t.Fatalf("two requests with one value: %s, want 200 429", got)
				}
				if got := limitGet(g, tc.other2, tc.other...).StatusCode; got != 200 {
					t.Fatalf("another value shares the counter: %d", got)
				}
			})
		}
	}
}
