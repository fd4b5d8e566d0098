package cli_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/testenv"
	"github.com/cspsync/cspsync/internal/text"
)

// hostile holds what a terminal must never receive from data: a window
// title and screen clear (OSC, CSI), a C1 CSI, DEL, a bidi override, a line
// separator, a tab and a newline that would break the table.
const hostile = "\x1b]0;pwned\x07\x1b[2J\u009b31m\x7f\u202eevil\u2028\tcol\nrow"

// assertInert fails when output holds an unsafe rune other than the
// newlines that end its own lines.
func assertInert(t *testing.T, out string) {
	t.Helper()
	assert.True(t, utf8.ValidString(out), "valid UTF-8")
	for _, r := range out {
		if r != '\n' && text.Unsafe(r) {
			t.Errorf("output holds %U:\n%q", r, out)
			return
		}
	}
}

// Rows stored before text was cleaned on the way in may hold anything: the
// CLI cleans every data field again when it prints a table, and escapes
// what encoding/json leaves raw when it prints JSON.
func TestListsNeverPrintTerminalEscapes(t *testing.T) {
	st, url, key := testenv.Store(t)
	ctx := context.Background()
	require.NoError(t, st.UpsertPartner(ctx, store.PartnerConfig{ID: "acme", DisplayName: "Acme", PartnerTenantID: "acme.example",
		PCClientID: "pc", PCClientSecret: "s", GraphClientID: "g", GraphClientSecret: "s", AuthorityURL: "https://login.example",
		PartnerCenterURL: "https://pc.example", GraphURL: "https://graph.example", DefaultRelationship: "GDAP"}))
	// Raw rows, written past the store's cleaning as an older cspsync did.
	_, err := st.Pool().Exec(ctx, `INSERT INTO integration_errors (partner_id, operation, code, message, remediation)
		VALUES ('acme', 'authorise', $1, $1, $1)`, hostile)
	require.NoError(t, err)
	_, err = st.Pool().Exec(ctx, `INSERT INTO customers (partner_id, name, azure_tenant_id, tenant_id_source, domain, relationship, consent_state, sync_reason)
		VALUES ('acme', $1, '11111111-0000-0000-0000-000000000001', 'discovered', $1, 'GDAP', 'pending', $1)`, hostile)
	require.NoError(t, err)

	for _, cmd := range [][]string{{"errors", "list"}, {"customers", "list"}, {"tenants", "list"}} {
		t.Run(strings.Join(cmd, " "), func(t *testing.T) {
			out, err := run(append([]string{"--database-url", url, "--encryption-key", key}, cmd...)...)
			require.NoError(t, err, out)
			assertInert(t, out)
			assert.Contains(t, out, "]0;pwned[2J31mevil col row", "the text is shown, made inert")
			assert.Len(t, strings.Split(strings.TrimSpace(out), "\n"), map[bool]int{true: 2, false: 3}[cmd[0] != "customers"],
				"one line per row: %q", out)

			out, err = run(append([]string{"--database-url", url, "--encryption-key", key}, append(cmd, "--json")...)...)
			require.NoError(t, err, out)
			assertInert(t, out)
			var rows []map[string]any
			require.NoError(t, json.Unmarshal([]byte(out), &rows))
			require.Len(t, rows, 1)
			found := false
			for _, v := range rows[0] {
				found = found || v == hostile
			}
			assert.True(t, found, "JSON keeps the stored text exactly: %v", rows[0])
		})
	}
}
