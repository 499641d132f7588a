//go:build !race

package engine

import (
	"strings"
	"testing"
)

// TestTemplateAppendKeyAllocatesNothing: a key is built in the caller's
// buffer, in one pass and in two (a template past keyInlineVars).
func TestTemplateAppendKeyAllocatesNothing(t *testing.T) {
	x := testCtx(t, sampleRequest)
	x.SetConsumer(&Consumer{Name: "alice"})
	for _, src := range []string{
		"{consumer}:{arg_page}:{http_x_tenant}:{cookie_theme}:{remote_addr}:{arg_none}",
		strings.Repeat("{arg_page}{http_x_tenant}:", 10),
	} {
		tp, err := ParseTemplate(src)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 0, 512)
		if n := testing.AllocsPerRun(1000, func() { buf, _ = tp.AppendKey(buf[:0], x) }); n != 0 {
			t.Errorf("%q: %v allocations per key, want 0", src, n)
		}
	}
}
