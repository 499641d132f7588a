package adminapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
)

// purgeDoc is the body of a purge: nothing (every entry), a key, or a key
// prefix.
type purgeDoc struct {
	Key    string `json:"key"`
	Prefix bool   `json:"prefix"`
}

// purge deletes entries of a route's or a global cache policy, in the
// shared dict and in Redis (Options.PurgeCache, policies.PurgeCache):
//
//	POST /routes/NAME/policies/ID/purge     {"key": "api.example.com/items?id=7"}
//	POST /global-policies/ID/purge          {"key": "api.example.com/items", "prefix": true}
//
// ID is the policy's id, else its name ("cache"). An empty body purges
// every entry of the policy.
func (a *API) purge(scope func(*http.Request) string) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		_, ver := a.opts.Store.Current()
		if a.opts.PurgeCache == nil {
			writeError(w, http.StatusNotFound, "no cache purging in this gateway", nil, ver)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxResourceBody))
		if err != nil {
			writeError(w, http.StatusRequestEntityTooLarge, "reading the body: "+err.Error(), nil, ver)
			return
		}
		var doc purgeDoc
		if len(bytes.TrimSpace(body)) > 0 {
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&doc); err != nil {
				writeError(w, http.StatusBadRequest, `the body must be {"key": "...", "prefix": false}, or empty for every entry: `+jsonWhere(body, err), nil, ver)
				return
			}
		}
		identity := scope(req) + "/" + req.PathValue("id")
		l1, l2, err := a.opts.PurgeCache(req.Context(), identity, doc.Key, doc.Prefix)
		switch {
		case a.opts.NoSuchCache != nil && errors.Is(err, a.opts.NoSuchCache):
			writeError(w, http.StatusNotFound, "no cache policy "+strconv.Quote(identity)+" (its id, else its name: cache)", nil, ver)
			return
		case err != nil:
			// The shared dict is purged; Redis failed: say how far it got.
			writeError(w, http.StatusBadGateway, "purged "+strconv.Itoa(l1)+" entries from the shared dict; Redis: "+err.Error(), nil, ver)
			return
		}
		out, _ := json.Marshal(map[string]any{"policy": identity, "l1": l1, "l2": l2})
		writeJSON(w, http.StatusOK, out, ver)
	}
}
