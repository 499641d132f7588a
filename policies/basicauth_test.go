package policies_test

import (
	"encoding/base64"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func basicHeader(user, pass string) string {
	return "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func basicConsumers(t testing.TB) string {
	hash, err := bcrypt.GenerateFromPassword([]byte("alice-password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	hash2, _ := bcrypt.GenerateFromPassword([]byte("p:with:colons"), bcrypt.MinCost)
	return `consumers:
  - name: alice
    groups: [admin]
    credentials:
      basic_auth: [ { username: alice, password_hash: "` + string(hash) + `" } ]
  - name: bob
    credentials:
      basic_auth: [ { username: bob, password_hash: "` + string(hash2) + `" } ]
  - name: guest
`
}

func TestBasicAuth(t *testing.T) {
	g := authGateway(t, "      - name: basic-auth\n", basicConsumers(t))
	for _, tc := range []struct {
		name     string
		fields   []string
		status   int
		consumer string
	}{
		{"right password", []string{basicHeader("alice", "alice-password")}, 200, "alice"},
		{"cached", []string{basicHeader("alice", "alice-password")}, 200, "alice"},
		{"password with colons", []string{basicHeader("bob", "p:with:colons")}, 200, "bob"},
		{"scheme in lower case", []string{"Authorization: basic " + base64.StdEncoding.EncodeToString([]byte("alice:alice-password"))}, 200, "alice"},
		{"wrong password", []string{basicHeader("alice", "alice-passwore")}, 401, ""},
		{"wrong password after a cached hit", []string{basicHeader("alice", "alice-password ")}, 401, ""},
		{"another consumer's password", []string{basicHeader("bob", "alice-password")}, 401, ""},
		{"unknown user", []string{basicHeader("mallory", "alice-password")}, 401, ""},
		{"empty password", []string{basicHeader("alice", "")}, 401, ""},
		{"no colon", []string{"Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("alice"))}, 401, ""},
		{"not base64", []string{"Authorization: Basic !!!"}, 401, ""},
		{"bearer instead", []string{"Authorization: Bearer abc"}, 401, ""},
		{"missing", nil, 401, ""},
		{"huge", []string{"Authorization: Basic " + base64.StdEncoding.EncodeToString(make([]byte, 2000))}, 401, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, up, body := get(t, g, "/", tc.fields...)
			expectStatus(t, resp, body, tc.status, "alice-password", "p:with:colons")
			if tc.status == 401 {
				if h := resp.Header.Get("WWW-Authenticate"); h != `Basic realm="sluice"` {
					t.Fatalf("WWW-Authenticate %q", h)
				}
				return
			}
			if up.Header.Get("X-Consumer-Name") != tc.consumer {
				t.Fatalf("consumer %v", up.Header)
			}
		})
	}
}

func TestBasicAuthHideAndAnonymous(t *testing.T) {
	g := authGateway(t, "      - name: basic-auth\n        config: { hide_credentials: true, anonymous: guest, realm: api }\n", basicConsumers(t))
	_, up, _ := get(t, g, "/", basicHeader("alice", "alice-password"))
	if up.Header.Get("Authorization") != "" || up.Header.Get("X-Consumer-Name") != "alice" {
		t.Fatalf("%v", up.Header)
	}
	_, up, _ = get(t, g, "/")
	if up.Header.Get("X-Consumer-Name") != "guest" {
		t.Fatalf("%v", up.Header)
	}
	resp, _, body := get(t, g, "/", basicHeader("alice", "nope"))
	expectStatus(t, resp, body, 401)
	if h := resp.Header.Get("WWW-Authenticate"); h != `Basic realm="api"` {
		t.Fatalf("WWW-Authenticate %q", h)
	}
}

func TestBasicAuthWithoutCache(t *testing.T) {
	g := authGateway(t, "      - name: basic-auth\n        config: { cache_size: -1 }\n", basicConsumers(t))
	for i := 0; i < 2; i++ {
		resp, _, body := get(t, g, "/", basicHeader("alice", "alice-password"))
		expectStatus(t, resp, body, 200)
	}
}
