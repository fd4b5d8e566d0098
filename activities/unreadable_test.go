package activities

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/usersync"
)

// Users Graph sends unreadable (accountEnabled "yes", a number for a name,
// an id that is no GUID or no string, null) fail only themselves, against a
// real database: the full round ends, the others are written, each of them
// is logged invalid with the reason, and one already imported keeps his row
// as it was: he is neither changed nor made inactive as absent.
func TestUnreadableUsersNeverStopTheirPage(t *testing.T) {
	ctx := context.Background()
	st, cu, fullRound := oneCustomerRounds(t, "Odd")
	user := func(id, name string) map[string]any {
		return map[string]any{"id": id, "displayName": name, "mail": strings.ReplaceAll(name, " ", ".") + "@odd.example", "accountEnabled": true}
	}
	ann, bob, cat := guid(), guid(), guid()
	fullRound(t, user(ann, "ann"), user(bob, "bob"), user(cat, "cat"))
	before, err := st.ListUsers(ctx, cu.ID)
	require.NoError(t, err)
	require.Len(t, before, 3)

	oddBob := user(bob, "bob renamed")
	oddBob["accountEnabled"] = "yes"
	numberName := user(guid(), "x")
	numberName["displayName"] = 42
	r := fullRound(t, user(ann, "ann renamed"), oddBob, user("not-a-guid", "eve"), map[string]any{"id": 7, "displayName": "num"},
		nil, numberName, user(cat, "cat"))
	assert.Equal(t, 5, r.Invalid, "bob, the odd ids, null and the number for a name")
	assert.Equal(t, 1, r.Updated)
	assert.Zero(t, r.Inactivated, "bob exists in Microsoft: not absent")
	assert.Zero(t, r.Created)

	after, err := st.ListUsers(ctx, cu.ID)
	require.NoError(t, err)
	require.Len(t, after, 3, "no one created from an unreadable user")
	byID := map[string]domain.PSAUser{}
	for _, u := range after {
		byID[u.AzureObjectID] = u
	}
	assert.Equal(t, "ann renamed", byID[ann].Name)
	assert.True(t, byID[cat].Active)
	for _, u := range before {
		if u.AzureObjectID == bob {
			assert.Equal(t, u, byID[bob], "bob's row as it was")
		}
	}
	l, err := st.InboundLog(ctx, cu.ID, bob, 1)
	require.NoError(t, err)
	require.Len(t, l, 1)
	assert.Equal(t, string(usersync.Invalid), l[0].Result)
	assert.Contains(t, l[0].Reason, "accountEnabled of type bool")
	assert.Contains(t, l[0].Reason, "the page's other users went on")

	var reasons []string
	rows, err := st.Pool().Query(ctx, `SELECT reason FROM inbound_log WHERE round_id = $1 AND result = 'invalid' AND azure_object_id IS NULL ORDER BY id`, r.ID)
	require.NoError(t, err)
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		reasons = append(reasons, s)
	}
	require.NoError(t, rows.Err())
	require.Len(t, reasons, 3, "the users without a usable id are logged without one")
	assert.Contains(t, reasons[0], `id as "not-a-guid", which is no GUID`)
	assert.Contains(t, reasons[1], "id of type string")
	assert.Contains(t, reasons[2], "no JSON object")
}
