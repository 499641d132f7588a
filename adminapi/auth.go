package adminapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// RequireToken wraps h so that every request must carry "Authorization:
// Bearer TOKEN". The comparison is of SHA-256 sums in constant time: it
// takes the same time whatever was sent, and whatever its length. A
// refused request gets 401 and a body that says what is missing, never
// what was sent.
func RequireToken(token string, h http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(got))
		if subtle.ConstantTimeCompare(sum[:], want[:]) != 1 || !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sluice-admin"`)
			writeError(w, http.StatusUnauthorized, "a valid bearer token is required (Authorization: Bearer ...)", nil, 0)
			return
		}
		h.ServeHTTP(w, r)
	})
}
