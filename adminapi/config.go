package adminapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sort"

	"github.com/sluice-gw/sluice/config"
)

func (a *API) getConfig(w http.ResponseWriter, _ *http.Request) {
	cfg, ver := a.opts.Store.Current()
	body, err := a.routes.whole(cfg)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encoding: "+err.Error(), nil, ver)
		return
	}
	writeJSON(w, http.StatusOK, body, ver)
}

// parseWhole reads a whole configuration from the body, validated as a
// file is.
func parseWhole(w http.ResponseWriter, req *http.Request) (*config.Config, *apiError) {
	doc, aerr := readBody(w, req, maxConfigBody)
	if aerr != nil {
		return nil, aerr
	}
	file := req.Method + " " + req.URL.Path
	if err := config.CheckNoRedacted(doc, file, ""); err != nil {
		return nil, changeError(err, "")
	}
	next, err := config.Parse(doc, file)
	if err != nil {
		return nil, changeError(err, "")
	}
	return next, nil
}

type configResult struct {
	Version uint64 `json:"version"`
	Valid   bool   `json:"valid,omitempty"`
	// RestartRequired lists the fields that changed but take effect only
	// at the next start of the process.
	RestartRequired []string `json:"restart_required,omitempty"`
}

func (a *API) putConfig(w http.ResponseWriter, req *http.Request) {
	a.applyWhole(w, req, false)
}

func (a *API) validateConfig(w http.ResponseWriter, req *http.Request) {
	a.applyWhole(w, req, true)
}

func (a *API) applyWhole(w http.ResponseWriter, req *http.Request, dry bool) {
	running, ver := a.opts.Store.Current()
	next, aerr := parseWhole(w, req)
	if aerr != nil {
		aerr.write(w, ver)
		return
	}
	res, ok := a.change(w, req, nil, dry, func() string { return "" }, func(*config.Config) (*config.Config, error) { return next, nil })
	if !ok {
		return
	}
	out := configResult{Version: res.New, Valid: dry}
	if a.opts.Restart != nil {
		out.RestartRequired = a.opts.Restart(running, next)
	}
	body, _ := json.MarshalIndent(out, "", "  ")
	writeJSON(w, http.StatusOK, body, res.New)
}

// change is one difference between two configurations, by name: values
// are never shown (they may be secrets).
type change struct {
	Op       string   `json:"op"` // add, remove, change
	Resource string   `json:"resource"`
	Name     string   `json:"name,omitempty"`
	Fields   []string `json:"fields,omitempty"` // the top-level fields that differ
}

type diffResult struct {
	Version uint64   `json:"version"`
	Changes []change `json:"changes"`
}

// diffConfig says what a PUT /config of the body would change.
func (a *API) diffConfig(w http.ResponseWriter, req *http.Request) {
	running, ver := a.opts.Store.Current()
	next, aerr := parseWhole(w, req)
	if aerr != nil {
		aerr.write(w, ver)
		return
	}
	out := diffResult{Version: ver, Changes: diff(running, next)}
	body, _ := json.MarshalIndent(out, "", "  ")
	writeJSON(w, http.StatusOK, body, ver)
}

// diff compares two configurations: named collections entry by entry,
// everything else section by section.
func diff(old, next *config.Config) []change {
	out := []change{}
	for _, r := range resources {
		out = append(out, diffNamed(r, old, next)...)
	}
	oldSec, newSec := sections(old), sections(next)
	keys := make([]string, 0, len(newSec))
	for k := range oldSec {
		keys = append(keys, k)
	}
	for k := range newSec {
		if _, ok := oldSec[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if string(oldSec[k]) != string(newSec[k]) {
			out = append(out, change{Op: "change", Resource: k})
		}
	}
	return out
}

func diffNamed(r *resource, old, next *config.Config) []change {
	var out []change
	index := func(c *config.Config) ([]string, map[string]int) {
		names := make([]string, r.count(c))
		at := make(map[string]int, len(names))
		for i := range names {
			names[i] = r.nameAt(c, i)
			at[names[i]] = i
		}
		return names, at
	}
	oldNames, oldAt := index(old)
	nextNames, nextAt := index(next)
	for _, n := range oldNames {
		if _, ok := nextAt[n]; !ok {
			out = append(out, change{Op: "remove", Resource: r.name, Name: n})
		}
	}
	for i, n := range nextNames {
		j, ok := oldAt[n]
		if !ok {
			out = append(out, change{Op: "add", Resource: r.name, Name: n})
			continue
		}
		if f := fieldsDiffer(r.item(old, j), r.item(next, i)); len(f) > 0 {
			out = append(out, change{Op: "change", Resource: r.name, Name: n, Fields: f})
		}
	}
	return out
}

// fieldsDiffer lists the top-level fields whose values differ, secrets
// compared but not shown. Equal encodings (most entries of a diff) are
// not decoded.
func fieldsDiffer(a, b any) []string {
	ab, errA := config.EncodeJSONWithSecrets(a)
	bb, errB := config.EncodeJSONWithSecrets(b)
	if errA == nil && errB == nil && bytes.Equal(ab, bb) {
		return nil
	}
	am, bm := fieldsOfJSON(ab), fieldsOfJSON(bb)
	var out []string
	for k, v := range am {
		if string(bm[k]) != string(v) {
			out = append(out, k)
		}
	}
	for k := range bm {
		if _, ok := am[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func fieldsOfJSON(b []byte) map[string]json.RawMessage {
	m := map[string]json.RawMessage{}
	_ = json.Unmarshal(b, &m)
	return m
}

func fieldsOf(v any) map[string]json.RawMessage {
	b, _ := config.EncodeJSONWithSecrets(v) // nil on error: no fields
	return fieldsOfJSON(b)
}

// sections are the configuration's top-level fields but the named
// collections.
func sections(c *config.Config) map[string]json.RawMessage {
	m := fieldsOf(c)
	for _, r := range resources {
		delete(m, r.name)
	}
	return m
}
