package adminapi

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/live"
)

// resource is a named collection of the configuration.
type resource struct {
	name   string // in URLs and config paths: "routes"
	count  func(c *config.Config) int
	item   func(c *config.Config, i int) any // a pointer into c
	nameAt func(c *config.Config, i int) string
	all    func(c *config.Config) any
	put    func(c *config.Config, name string, doc []byte, file string) (*config.Config, int, error)
	del    func(c *config.Config, name string) (*config.Config, int, error)
	// listJSON, when set, encodes the whole list (the routes' cache).
	listJSON func(a *API, c *config.Config) ([]byte, error)
	// find, when set, is index without the walk (the routes' index).
	find func(c *config.Config, name string) int
}

// collection makes the resource of a list of the config whose entries
// have a name: everything but the edits is derived from the list.
func collection[T any](name string, list func(*config.Config) []T, nameOf func(*T) string,
	put func(*config.Config, string, []byte, string) (*config.Config, int, error),
	del func(*config.Config, string) (*config.Config, int, error)) *resource {
	return &resource{
		name:   name,
		count:  func(c *config.Config) int { return len(list(c)) },
		item:   func(c *config.Config, i int) any { return &list(c)[i] },
		nameAt: func(c *config.Config, i int) string { return nameOf(&list(c)[i]) },
		all:    func(c *config.Config) any { return nonNil(list(c)) },
		put:    put,
		del:    del,
	}
}

// index is the position of the entry called name, or -1.
func (r *resource) index(c *config.Config, name string) int {
	if r.find != nil {
		return r.find(c, name)
	}
	for i := range r.count(c) {
		if r.nameAt(c, i) == name {
			return i
		}
	}
	return -1
}

var resources = []*resource{
	routesResource,
	upstreamsResource,
	collection("consumers", func(c *config.Config) []config.Consumer { return c.Consumers },
		func(cs *config.Consumer) string { return cs.Name }, (*config.Config).PutConsumer, (*config.Config).DeleteConsumer),
}

var upstreamsResource = collection("upstreams", func(c *config.Config) []config.Upstream { return c.Upstreams },
	func(u *config.Upstream) string { return u.Name }, (*config.Config).PutUpstream, (*config.Config).DeleteUpstream)

// routesResource reads the routes where they are (config.RouteList), not
// through a slice of them, which would copy 10,000 pointers per change.
var routesResource = &resource{
	name:     "routes",
	count:    func(c *config.Config) int { return c.Routes.Len() },
	item:     func(c *config.Config, i int) any { return c.Routes.At(i) },
	nameAt:   func(c *config.Config, i int) string { return c.Routes.At(i).Name },
	all:      func(c *config.Config) any { return nonNil(c.Routes.Slice()) },
	put:      (*config.Config).PutRoute,
	del:      (*config.Config).DeleteRoute,
	listJSON: func(a *API, c *config.Config) ([]byte, error) { return a.routes.list(c) },
	find:     (*config.Config).RouteIndex, // 10,000 routes are not walked per change
}

// nonNil makes an absent list encode as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (r *resource) path(i int) string { return r.name + "[" + strconv.Itoa(i) + "]" }

func (a *API) list(r *resource) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		cfg, ver := a.opts.Store.Current()
		if r.listJSON != nil {
			body, err := r.listJSON(a, cfg)
			if err != nil {
				writeError(w, http.StatusInternalServerError, "encoding: "+err.Error(), nil, ver)
				return
			}
			writeJSON(w, http.StatusOK, body, ver)
			return
		}
		a.answer(w, http.StatusOK, r.all(cfg), ver)
	}
}

func (a *API) get(r *resource) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		cfg, ver := a.opts.Store.Current()
		name := req.PathValue("name")
		i := r.index(cfg, name)
		if i < 0 {
			writeError(w, http.StatusNotFound, "no "+r.name+" entry named "+strconv.Quote(name), nil, ver)
			return
		}
		a.answer(w, http.StatusOK, r.item(cfg, i), ver)
	}
}

// answer encodes v (secrets redacted) with the version as ETag.
func (a *API) answer(w http.ResponseWriter, status int, v any, ver uint64) {
	body, err := config.EncodeJSON(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encoding: "+err.Error(), nil, ver)
		return
	}
	writeJSON(w, status, body, ver)
}

func (a *API) put(r *resource) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		doc, aerr := readBody(w, req, maxResourceBody)
		name := req.PathValue("name")
		a.write(w, req, r, name, aerr, func(cfg *config.Config) (*config.Config, int, error) {
			i := r.index(cfg, name)
			if i < 0 {
				i = r.count(cfg) // where a new one goes
			}
			if err := config.CheckNoRedacted(doc, req.Method+" "+req.URL.Path, r.path(i)); err != nil {
				return nil, i, err
			}
			return r.put(cfg, name, doc, req.Method+" "+req.URL.Path)
		})
	}
}

// patch merges the body into the resource (RFC 7386: a key set to null is
// removed, objects merge, anything else replaces) and puts the result.
func (a *API) patch(r *resource) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		doc, aerr := readBody(w, req, maxResourceBody)
		name := req.PathValue("name")
		a.write(w, req, r, name, aerr, func(cfg *config.Config) (*config.Config, int, error) {
			i := r.index(cfg, name)
			if i < 0 {
				return nil, -1, notFound(r, name)
			}
			if err := config.CheckNoRedacted(doc, req.Method+" "+req.URL.Path, r.path(i)); err != nil {
				return nil, i, err
			}
			merged, err := mergePatch(r.item(cfg, i), doc)
			if err != nil {
				return nil, i, err
			}
			return r.put(cfg, name, merged, req.Method+" "+req.URL.Path+" (merged)")
		})
	}
}

func (a *API) delete(r *resource) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		name := req.PathValue("name")
		a.write(w, req, r, name, nil, func(cfg *config.Config) (*config.Config, int, error) {
			return r.del(cfg, name)
		})
	}
}

// write applies one resource change and answers the resource as it now is
// (201 when it was created, 204 when deleted).
func (a *API) write(w http.ResponseWriter, req *http.Request, r *resource, name string, aerr *apiError,
	edit func(cfg *config.Config) (*config.Config, int, error)) {
	existed := false
	pos := -1
	res, ok := a.change(w, req, aerr, false, func() string {
		if pos < 0 {
			return ""
		}
		return r.path(pos)
	}, func(cfg *config.Config) (*config.Config, error) {
		next, i, err := edit(cfg)
		pos = i // where the entry was, or is added (the end)
		existed = i >= 0 && i < r.count(cfg)
		return next, err
	})
	if !ok {
		return
	}
	if req.Method == http.MethodDelete {
		w.Header().Set("ETag", strconv.Quote(strconv.FormatUint(res.New, 10)))
		w.WriteHeader(http.StatusNoContent)
		return
	}
	status := http.StatusOK
	if !existed {
		status = http.StatusCreated
	}
	at := pos // the edit's position, unless it says nothing of the name
	if at < 0 || at >= r.count(res.Config) || r.nameAt(res.Config, at) != name {
		at = r.index(res.Config, name)
	}
	a.answer(w, status, r.item(res.Config, at), res.New)
}

func notFound(r *resource, name string) error {
	return &notFoundError{what: r.name, name: name}
}

type notFoundError struct{ what, name string }

func (e *notFoundError) Error() string {
	return "no " + e.what + " entry named " + strconv.Quote(e.name)
}
func (e *notFoundError) Unwrap() error { return config.ErrNotFound }

// mergePatch applies an RFC 7386 merge patch to v's JSON form.
func mergePatch(v any, patch []byte) ([]byte, error) {
	cur, err := config.EncodeJSONWithSecrets(v)
	if err != nil {
		return nil, err
	}
	var doc, p any
	if err := json.Unmarshal(cur, &doc); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(patch, &p); err != nil {
		return patch, nil // YAML: the decoder reports what is wrong with it
	}
	return json.Marshal(merge(doc, p))
}

func merge(doc, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	dm, ok := doc.(map[string]any)
	if !ok {
		dm = map[string]any{}
	}
	for k, pv := range pm {
		if pv == nil {
			delete(dm, k)
			continue
		}
		dm[k] = merge(dm[k], pv)
	}
	return dm
}

// change runs one change for a request: it answers the body's error, a bad
// If-Match or a refusal itself (prefix gives the config path the body's
// JSON pointers are relative to) and reports whether the change was made.
func (a *API) change(w http.ResponseWriter, req *http.Request, aerr *apiError, dry bool, prefix func() string,
	edit func(*config.Config) (*config.Config, error)) (live.Result, bool) {
	_, running := a.opts.Store.Current()
	if aerr != nil {
		aerr.write(w, running)
		return live.Result{}, false
	}
	want, err := ifMatch(req)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error(), nil, running)
		return live.Result{}, false
	}
	res, err := a.opts.Store.Apply(live.Change{
		Who: a.who(req), What: req.Method + " " + req.URL.Path, IfVersion: want, DryRun: dry, Edit: edit,
	})
	if err != nil {
		changeError(err, prefix()).write(w, running)
		return live.Result{}, false
	}
	return res, true
}
