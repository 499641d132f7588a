// Package adminapi is the Admin API: the running configuration as JSON
// resources on the admin listener, changed without a restart.
//
//	GET    /config                  the whole running configuration
//	PUT    /config                  replace it (JSON or YAML)
//	POST   /config/validate         dry run of a PUT /config
//	POST   /config/diff             what a PUT /config would change
//	GET    /routes                  list; /routes/NAME: one
//	PUT    /routes/NAME             create or replace
//	PATCH  /routes/NAME             merge (RFC 7386 JSON merge patch)
//	DELETE /routes/NAME
//	       /upstreams[/NAME]        the same
//	       /consumers[/NAME]        the same
//	GET    /upstreams/NAME/health   the targets' health and load
//	PUT    /upstreams/NAME/targets/ADDR   add a target or set its weight/down
//	DELETE /upstreams/NAME/targets/ADDR
//	GET    /global-policies; PUT replaces the list
//	GET    /schemas/policies[/NAME] the registered policies' JSON Schemas
//	POST   /routes/NAME/policies/ID/purge, /global-policies/ID/purge
//	                                delete a cache policy's entries (all, a key, a prefix)
//
// Every write is validated exactly like the config file (the same checks,
// errors at the same paths, given here also as JSON pointers), compiled
// and swapped in by package live; a refused write changes nothing.
// Responses carry the config version as ETag; a write with If-Match is
// refused with 409 when another version is running.
//
// Secrets (API keys, JWT and HMAC secrets, password hashes) are shown as
// config.Redacted and never logged; sending the placeholder back is
// refused.
package adminapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/live"
)

// Body caps: a whole configuration of 10,000 routes is a few MiB of JSON.
const (
	maxConfigBody   = 64 << 20
	maxResourceBody = 1 << 20
)

// Options configure the API.
type Options struct {
	// Store is the running configuration. Required.
	Store *live.Store
	// Authenticated says the listener checks a bearer token
	// (RequireToken): the change log then says so.
	Authenticated bool
	// Schema returns the JSON Schema of a registered policy, and Policies
	// lists their names (package policies).
	Schema   func(name string) ([]byte, bool)
	Policies func() []string
	// Health returns the health view of an upstream (lb status), or false.
	Health func(name string) (any, bool)
	// PurgeCache deletes entries of the cache policy with an identity
	// ("route:NAME/ID", "global/ID"): policies.PurgeCache. NoSuchCache is
	// the error it returns for an identity no cache policy has.
	PurgeCache  func(ctx context.Context, identity, key string, prefix bool) (l1, l2 int, err error)
	NoSuchCache error
	// Restart lists the fields of a new config that take effect only at
	// the next start (listen, workers...) because they differ from the
	// running process's; reported, not refused.
	Restart func(running, next *config.Config) []string
}

// API serves the resources. Safe for concurrent use.
type API struct {
	opts   Options
	routes routeJSON
}

// Register adds the API's routes to mux and returns the API.
func Register(mux *http.ServeMux, opts Options) *API {
	a := &API{opts: opts}
	h := func(pattern string, fn http.HandlerFunc) { mux.Handle(pattern, fn) }
	h("GET /config", a.getConfig)
	h("PUT /config", a.putConfig)
	h("POST /config/validate", a.validateConfig)
	h("POST /config/diff", a.diffConfig)
	for _, r := range resources {
		r := r
		h("GET /"+r.name, a.list(r))
		h("GET /"+r.name+"/{name}", a.get(r))
		h("PUT /"+r.name+"/{name}", a.put(r))
		h("PATCH /"+r.name+"/{name}", a.patch(r))
		h("DELETE /"+r.name+"/{name}", a.delete(r))
	}
	h("GET /upstreams/{name}/health", a.health)
	h("PUT /upstreams/{name}/targets/{addr}", a.putTarget)
	h("DELETE /upstreams/{name}/targets/{addr}", a.deleteTarget)
	h("GET /global-policies", a.getGlobals)
	h("PUT /global-policies", a.putGlobals)
	h("POST /routes/{name}/policies/{id}/purge", a.purge(func(r *http.Request) string { return "route:" + r.PathValue("name") }))
	h("POST /global-policies/{id}/purge", a.purge(func(*http.Request) string { return "global" }))
	h("GET /schemas/policies", a.listSchemas)
	h("GET /schemas/policies/{name}", a.schema)
	return a
}

// who names the author of a change for the log: the peer, and whether a
// token vouched for it. Never the token itself.
func (a *API) who(r *http.Request) string {
	if a.opts.Authenticated {
		return "admin " + r.RemoteAddr + " (token)"
	}
	return "admin " + r.RemoteAddr
}

// ifMatch reads If-Match: a version in quotes, or * (any).
func ifMatch(r *http.Request) (uint64, error) {
	v := strings.TrimSpace(r.Header.Get("If-Match"))
	if v == "" || v == "*" {
		return 0, nil
	}
	n, err := strconv.ParseUint(strings.Trim(strings.TrimPrefix(v, "W/"), `"`), 10, 64)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("If-Match must be a version as the ETag gives it (\"12\"), got %q", v)
	}
	return n, nil
}

// readBody reads a request body up to limit, checking JSON syntax unless
// the body says it is YAML; the error is the response to send.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *apiError) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &apiError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("the body is over %d bytes", limit)}
		}
		return nil, &apiError{status: http.StatusBadRequest, msg: "reading the body: " + err.Error()}
	}
	if isYAML(r) {
		return data, nil
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil, &apiError{status: http.StatusBadRequest, msg: "the body is empty: send a JSON object"}
	}
	// Valid scans without building anything; Unmarshal, which does, only
	// runs to say where a malformed body fails.
	if !json.Valid(data) {
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			return nil, &apiError{status: http.StatusBadRequest, msg: "malformed JSON: " + jsonWhere(data, err)}
		}
	}
	return data, nil
}

func isYAML(r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	return strings.Contains(ct, "yaml")
}

// jsonWhere says where a JSON syntax error is: line and column.
func jsonWhere(data []byte, err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	off := int64(-1)
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off < 0 {
		return err.Error()
	}
	line, col := 1, 1
	for _, c := range data[:min(int(off), len(data))] {
		if c == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return fmt.Sprintf("line %d, column %d: %s", line, col, err.Error())
}
