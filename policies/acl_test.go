package policies_test

import "testing"

func TestACL(t *testing.T) {
	consumers := `consumers:
  - { name: admin, groups: [admin, staff], credentials: { key_auth: [ { key: "admin-key-0123456789" } ] } }
  - { name: staff, groups: [staff], credentials: { key_auth: [ { key: "staff-key-0123456789" } ] } }
  - { name: banned, groups: [staff, banned], credentials: { key_auth: [ { key: "banned-key-012345678" } ] } }
  - { name: nobody, credentials: { key_auth: [ { key: "nobody-key-01234567" } ] } }
  - { name: guest, groups: [staff] }
`
	g := authGateway(t, `      - name: key-auth
        config: { anonymous: guest }
      - name: acl
        config: { allow: [staff], deny: [banned] }
`, consumers)
	for _, tc := range []struct {
		name, key string
		status    int
	}{
		{"allowed group", "admin-key-0123456789", 200},
		{"allowed group only", "staff-key-0123456789", 200},
		{"denied group wins", "banned-key-012345678", 403},
		{"no group", "nobody-key-01234567", 403},
		{"anonymous in an allowed group", "", 403},
		{"wrong key still 401", "wrong-key-0123456789", 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var fields []string
			if tc.key != "" {
				fields = append(fields, "apikey: "+tc.key)
			}
			resp, _, body := get(t, g, "/", fields...)
			expectStatus(t, resp, body, tc.status)
		})
	}
	t.Run("allow_anonymous", func(t *testing.T) {
		g := authGateway(t, `      - name: key-auth
        config: { anonymous: guest }
      - name: acl
        config: { allow: [staff], allow_anonymous: true }
`, consumers)
		resp, _, body := get(t, g, "/")
		expectStatus(t, resp, body, 200)
	})
	t.Run("no auth policy", func(t *testing.T) {
		g := authGateway(t, "      - name: acl\n        config: { deny: [banned] }\n", consumers)
		resp, _, body := get(t, g, "/", "X-Consumer-Name: admin")
		expectStatus(t, resp, body, 403)
	})
}
