package main

import (
	"flag"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/admin"
)

// TestUsageNamesEveryFlag pins the drift where -log-format was registered
// (overrides.register) but missing from the usage text. Each command's
// flags are read from its own -h output, so a flag added to any flag set
// later is checked too.
func TestUsageNamesEveryFlag(t *testing.T) {
	var text strings.Builder
	usage(&text)
	flagLine := regexp.MustCompile(`(?m)^  -(\S+)`) // flag.PrintDefaults: "  -name type"
	for _, cmd := range []string{"run", "validate", "proxy", "apply", "diff"} {
		var help strings.Builder
		if code := run([]string{cmd, "-h"}, &help); code != 2 {
			t.Fatalf("sluice %s -h: exit %d, want 2", cmd, code)
		}
		names := flagLine.FindAllStringSubmatch(help.String(), -1)
		if len(names) == 0 {
			t.Fatalf("sluice %s -h lists no flags:\n%s", cmd, help.String())
		}
		for _, m := range names {
			named := regexp.MustCompile(`(^|[\s\[|])--?` + regexp.QuoteMeta(m[1]) + `([\s\]=]|$)`)
			if !named.MatchString(text.String()) {
				t.Errorf("sluice %s has the flag -%s, which the usage text does not name:\n%s", cmd, m[1], text.String())
			}
		}
	}
}

// TestStatusFlagHelpNamesWhatAdminServes pins the help of -status, which
// named /upstreams (the Admin API's list of upstream configs since the
// Admin API came) as a status view and left out /status/upstreams. Every
// path the help names must be one of package admin's views, and it must
// name them all and the Admin API.
func TestStatusFlagHelpNamesWhatAdminServes(t *testing.T) {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var ov overrides
	ov.register(fs)
	help := fs.Lookup("status").Usage
	views := admin.New(admin.Options{NoRuntimeMetrics: true}).Mux()
	named := regexp.MustCompile(`/[a-z/]*[a-z]`).FindAllString(help, -1)
	for _, path := range named {
		if _, pattern := views.Handler(httptest.NewRequest("GET", path, nil)); pattern == "" {
			t.Errorf("-status help names %s, which package admin does not serve: %q", path, help)
		}
	}
	for _, path := range []string{"/metrics", "/status", "/status/upstreams"} {
		if !slices.Contains(named, path) {
			t.Errorf("-status help does not name %s: %q", path, help)
		}
	}
	if !strings.Contains(help, "Admin API") {
		t.Errorf("-status help does not name the Admin API: %q", help)
	}
}
