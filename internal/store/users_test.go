package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/testenv"
)

// usersFixture is a partner with two customer tenants, as discovery leaves
// them, on a fresh database.
type usersFixture struct {
	st      *store.Store
	ctx     context.Context
	tenants [2]string
	ids     [2]int64 // the customers
	site    int64    // the first customer's default site
}

func newUsersFixture(t testing.TB, opts ...store.Option) *usersFixture {
	t.Helper()
	st, _, _ := testenv.Store(t, opts...)
	f := &usersFixture{st: st, ctx: context.Background(),
		tenants: [2]string{"11111111-0000-0000-0000-000000000001", "22222222-0000-0000-0000-000000000002"}}
	require.NoError(t, st.UpsertPartner(f.ctx, partner("acme")))
	_, err := st.SaveDiscoveryPage(f.ctx, "acme", "", "", []store.DiscoveredTenant{
		{TenantID: f.tenants[0], Name: "Contoso", Domain: "contoso.example"},
		{TenantID: f.tenants[1], Name: "Fabrikam", Domain: "fabrikam.example"}})
	require.NoError(t, err)
	for i, tn := range f.tenants {
		cu, err := st.GetCustomerByTenant(f.ctx, tn)
		require.NoError(t, err)
		f.ids[i] = cu.ID
	}
	sites, err := st.ListSites(f.ctx, f.ids[0])
	require.NoError(t, err)
	f.site = sites[0].ID
	return f
}

// start starts a round of kind for the first customer.
func (f *usersFixture) start(t testing.TB, kind domain.RoundKind) store.UserRound {
	t.Helper()
	r, err := f.st.StartUserRound(f.ctx, f.ids[0], kind)
	require.NoError(t, err)
	return r
}

// newUser is the row and log row a round writes for a user it creates.
func (f *usersFixture) newUser(azure, name string) store.PageUser {
	return store.PageUser{
		Row: &domain.PSAUser{SiteID: f.site, AzureObjectID: azure, Active: true,
			UserValues: domain.UserValues{Name: name, Email: strings.ToLower(name) + "@contoso.example"}},
		Log: &store.LogRow{AzureObjectID: azure, MatchRule: "created", Result: "created",
			Changes: []domain.Change{{Field: "name", Old: "", New: name}}},
	}
}

// users reads the first customer's PSA users by Azure object id.
func (f *usersFixture) users(t *testing.T) map[string]domain.PSAUser {
	t.Helper()
	us, err := f.st.ListUsers(f.ctx, f.ids[0])
	require.NoError(t, err)
	out := map[string]domain.PSAUser{}
	for _, u := range us {
		out[u.AzureObjectID] = u
	}
	return out
}

func (f *usersFixture) log(t *testing.T) []store.LogEntry {
	t.Helper()
	l, err := f.st.InboundLog(f.ctx, f.ids[0], "", 100)
	require.NoError(t, err)
	return l
}

const (
	azureA = "aaaaaaaa-0000-0000-0000-00000000000a"
	azureB = "bbbbbbbb-0000-0000-0000-00000000000b"
	azureC = "cccccccc-0000-0000-0000-00000000000c"
)

// A page's users, their log rows and the round's cursor commit together or
// not at all: a page that fails part way leaves the cursor where it was, so
// the page is read again, and an attempt that read another page than the
// stored cursor writes nothing.
func TestUserPageAndCursorCommitTogether(t *testing.T) {
	f := newUsersFixture(t)
	r := f.start(t, domain.RoundFull)
	assert.Equal(t, domain.RoundFull, r.Kind)
	again, err := f.st.StartUserRound(f.ctx, f.ids[0], domain.RoundDelta)
	require.NoError(t, err)
	assert.Equal(t, r.ID, again.ID, "a customer has one unfinished round: a second start returns it")

	// The log row's result breaks the inbound log's CHECK: the whole page fails.
	bad := f.newUser(azureB, "Bob")
	bad.Log.Result = "no such result"
	_, err = f.st.SaveUserPage(f.ctx, r, store.UserPage{Next: "https://graph.example/page2",
		Users: []store.PageUser{f.newUser(azureA, "Alice"), bad}, Seen: []string{azureA, azureB}, Counts: domain.RoundCounts{Users: 2, Created: 2}})
	require.Error(t, err)
	assert.Empty(t, f.users(t), "no user of a failed page is kept")
	assert.Empty(t, f.log(t))
	running, _, err := f.st.RunningUserRound(f.ctx, f.ids[0])
	require.NoError(t, err)
	assert.Empty(t, running.NextLink, "the cursor did not move past a page that was not saved")
	assert.Zero(t, running.Pages)

	// The same page, whole, commits users, log and cursor.
	r, err = f.st.SaveUserPage(f.ctx, r, store.UserPage{Next: "https://graph.example/page2",
		Users: []store.PageUser{f.newUser(azureA, "Alice"), f.newUser(azureB, "Bob")}, Seen: []string{azureA, azureB},
		Counts: domain.RoundCounts{Users: 2, Created: 2}})
	require.NoError(t, err)
	running, _, err = f.st.RunningUserRound(f.ctx, f.ids[0])
	require.NoError(t, err)
	assert.Equal(t, "https://graph.example/page2", running.NextLink)
	assert.Equal(t, domain.RoundCounts{Pages: 1, Users: 2, Created: 2}, running.RoundCounts)
	assert.Len(t, f.users(t), 2)

	// A second attempt that read the first page again finds the cursor moved.
	_, err = f.st.SaveUserPage(f.ctx, *running, store.UserPage{From: "", Next: "https://graph.example/other",
		Users: []store.PageUser{f.newUser(azureC, "Carol")}})
	require.ErrorIs(t, err, store.ErrRoundMoved)
	assert.Len(t, f.users(t), 2, "nothing of a page another attempt saved first is written twice")

	// The last page finishes the round and leaves the delta link for the next.
	r, err = f.st.SaveUserPage(f.ctx, r, store.UserPage{From: "https://graph.example/page2",
		Users: []store.PageUser{f.newUser(azureC, "Carol")}, Seen: []string{azureC}, Counts: domain.RoundCounts{Users: 1, Created: 1},
		End: &store.RoundEnd{DeltaLink: "https://graph.example/delta", Select: "accountEnabled,id"}})
	require.NoError(t, err)
	require.NotNil(t, r.FinishedAt)
	running, delta, err := f.st.RunningUserRound(f.ctx, f.ids[0])
	require.NoError(t, err)
	assert.Nil(t, running)
	assert.Equal(t, store.DeltaState{Link: "https://graph.example/delta", Select: "accountEnabled,id"}, delta)
	last, err := f.st.LastUserRound(f.ctx, f.ids[0])
	require.NoError(t, err)
	assert.Equal(t, domain.RoundCounts{Pages: 2, Users: 3, Created: 3}, last.RoundCounts)
}

// New users get their rows' ids by their Azure object ids, whatever order
// PostgreSQL inserts or returns them in: every log row names the row of its
// own user.
func TestNewUsersLogRowsNameTheirOwnRows(t *testing.T) {
	f := newUsersFixture(t)
	r := f.start(t, domain.RoundFull)
	var page []store.PageUser
	names := map[string]string{}
	for i := range 50 {
		azure := fmt.Sprintf("dddddddd-0000-0000-0000-%012x", 50-i) // not in page order
		name := fmt.Sprintf("User %d", i)
		names[azure] = name
		// Existing-user log rows (no row written) in between.
		page = append(page, f.newUser(azure, name), store.PageUser{Log: &store.LogRow{AzureObjectID: azure, Result: "excluded"}})
	}
	_, err := f.st.SaveUserPage(f.ctx, r, store.UserPage{Users: page, End: &store.RoundEnd{DeltaLink: "https://graph.example/d"}})
	require.NoError(t, err)
	users := f.users(t)
	require.Len(t, users, 50)
	for _, l := range f.log(t) {
		if l.Result != "created" {
			assert.Nil(t, l.PSAUserID, "a user no row was written for has no PSA user")
			continue
		}
		require.NotNil(t, l.PSAUserID)
		assert.Equal(t, users[l.AzureObjectID].ID, *l.PSAUserID, "log row of %s", l.AzureObjectID)
		assert.Equal(t, names[l.AzureObjectID], users[l.AzureObjectID].Name)
	}
}

// An update writes the row the decision handed over, whole, and its log row
// keeps every field changed with the old and the new value.
func TestUserUpdateWritesTheDecidedRowAndLogsItsChanges(t *testing.T) {
	f := newUsersFixture(t)
	r := f.start(t, domain.RoundFull)
	_, err := f.st.SaveUserPage(f.ctx, r, store.UserPage{Users: []store.PageUser{f.newUser(azureA, "Alice")},
		End: &store.RoundEnd{DeltaLink: "https://graph.example/d"}})
	require.NoError(t, err)
	alice := f.users(t)[azureA]

	r = f.start(t, domain.RoundDelta)
	row := alice
	row.Name, row.Active, row.InactiveReason = "Alice Smith", false, "account disabled in Microsoft (accountEnabled false)"
	row.Custom = map[string]string{"cost_centre": "42"}
	changes := []domain.Change{{Field: "name", Old: "Alice", New: "Alice Smith"}, {Field: "active", Old: "true", New: "false"}}
	_, err = f.st.SaveUserPage(f.ctx, r, store.UserPage{Users: []store.PageUser{{Row: &row,
		Log: &store.LogRow{AzureObjectID: azureA, PSAUserID: alice.ID, MatchRule: "azure_object_id", Result: "inactivated",
			Changes: changes, Reason: row.InactiveReason}}},
		End: &store.RoundEnd{DeltaLink: "https://graph.example/d2"}})
	require.NoError(t, err)

	got := f.users(t)[azureA]
	assert.Equal(t, alice.ID, got.ID)
	assert.Equal(t, "Alice Smith", got.Name)
	assert.Equal(t, "alice@contoso.example", got.Email, "a field the decision kept is kept")
	assert.False(t, got.Active)
	assert.Equal(t, "account disabled in Microsoft (accountEnabled false)", got.InactiveReason)
	assert.Equal(t, map[string]string{"cost_centre": "42"}, got.Custom)
	assert.Equal(t, domain.UserSourceAzure, got.Source)

	l, err := f.st.InboundLog(f.ctx, f.ids[0], azureA, 1)
	require.NoError(t, err)
	require.Len(t, l, 1)
	assert.Equal(t, "inactivated", l[0].Result)
	assert.Equal(t, changes, l[0].Changes, "every field changed, old -> new")
	require.NotNil(t, l[0].PSAUserID)
	assert.Equal(t, alice.ID, *l[0].PSAUserID)
}

// UnseenUsers lists the active users from Microsoft a full round saw in none
// of its saved pages nor in the page being saved, and the inactive ones still holding a
// licence: users by hand, inactive users without one and other customers' are not its concern.
func TestUnseenUsersOfAFullRound(t *testing.T) {
	f := newUsersFixture(t)
	const (
		azureD = "dddddddd-0000-0000-0000-00000000000d"
		azureE = "eeeeeeee-0000-0000-0000-00000000000e"
	)
	r := f.start(t, domain.RoundFull)
	dave, erin := f.newUser(azureD, "Dave"), f.newUser(azureE, "Erin")
	dave.Row.Active, erin.Row.Active = false, false
	_, err := f.st.SaveUserPage(f.ctx, r, store.UserPage{Users: []store.PageUser{f.newUser(azureA, "Alice"), f.newUser(azureB, "Bob"),
		f.newUser(azureC, "Carol"), dave, erin},
		Licences: []store.UserLicences{{AzureObjectID: azureD, Skus: []string{"c42b9cae-ea4f-4ab7-9717-81576235ccac"}}},
		End:      &store.RoundEnd{DeltaLink: "https://graph.example/d"}})
	require.NoError(t, err)
	_, err = f.st.AddUser(f.ctx, f.ids[0], "By Hand", "hand@contoso.example", "")
	require.NoError(t, err)

	r = f.start(t, domain.RoundFull)
	r, err = f.st.SaveUserPage(f.ctx, r, store.UserPage{Next: "https://graph.example/p2", Seen: []string{azureA}})
	require.NoError(t, err)
	unseen, err := f.st.UnseenUsers(f.ctx, r, []string{azureC})
	require.NoError(t, err)
	require.Len(t, unseen, 2, "Bob, and Dave: inactive but still holding a licence; not Erin, inactive without one")
	assert.Equal(t, azureB, unseen[0].AzureObjectID)
	assert.Equal(t, "Bob", unseen[0].Name)
	assert.True(t, unseen[0].Active)
	assert.Equal(t, azureD, unseen[1].AzureObjectID)
}

// Resetting one tenant's delta state leaves every other tenant's alone;
// resetting the partner's resets them all.
func TestResetDeltaOfOneTenantLeavesTheOthers(t *testing.T) {
	f := newUsersFixture(t)
	for _, id := range f.ids {
		r, err := f.st.StartUserRound(f.ctx, id, domain.RoundFull)
		require.NoError(t, err)
		_, err = f.st.SaveUserPage(f.ctx, r, store.UserPage{End: &store.RoundEnd{DeltaLink: "https://graph.example/d", Select: "id"}})
		require.NoError(t, err)
	}
	delta := func(i int) string {
		_, d, err := f.st.RunningUserRound(f.ctx, f.ids[i])
		require.NoError(t, err)
		return d.Link
	}
	n, err := f.st.ResetDelta(f.ctx, "acme", strings.ToUpper(f.tenants[1]))
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Empty(t, delta(1))
	assert.Equal(t, "https://graph.example/d", delta(0), "the other tenant keeps its delta link")

	n, err = f.st.ResetDelta(f.ctx, "acme", "")
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.Empty(t, delta(0))
}

// The inbound log keeps the partner's retention: older rows and finished
// rounds go, newer ones and the customer's newest round stay.
func TestPruneInboundLogKeepsTheRetention(t *testing.T) {
	f := newUsersFixture(t)
	r := f.start(t, domain.RoundFull)
	_, err := f.st.SaveUserPage(f.ctx, r, store.UserPage{Users: []store.PageUser{f.newUser(azureA, "Alice"), f.newUser(azureB, "Bob")},
		End: &store.RoundEnd{DeltaLink: "https://graph.example/d"}})
	require.NoError(t, err)
	r2 := f.start(t, domain.RoundDelta)
	_, err = f.st.SaveUserPage(f.ctx, r2, store.UserPage{Users: []store.PageUser{{Log: &store.LogRow{AzureObjectID: azureC, Result: "excluded"}}},
		End: &store.RoundEnd{DeltaLink: "https://graph.example/d"}})
	require.NoError(t, err)
	// The first round and its rows are 40 days old; the retention is 30 days.
	_, err = f.st.Pool().Exec(f.ctx, `UPDATE inbound_log SET at = now() - interval '40 days' WHERE round_id = $1`, r.ID)
	require.NoError(t, err)
	_, err = f.st.Pool().Exec(f.ctx, `UPDATE user_rounds SET started_at = now() - interval '40 days',
		finished_at = now() - interval '40 days' WHERE customer_id = $1`, f.ids[0])
	require.NoError(t, err)

	n, err := f.st.PruneInboundLog(f.ctx, f.ids[0])
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	l := f.log(t)
	require.Len(t, l, 1)
	assert.Equal(t, azureC, l[0].AzureObjectID)
	_, err = f.st.LastUserRound(f.ctx, f.ids[0])
	require.NoError(t, err, "the newest round stays, however old")
	var rounds int
	require.NoError(t, f.st.Pool().QueryRow(f.ctx, `SELECT count(*) FROM user_rounds`).Scan(&rounds))
	assert.Equal(t, 1, rounds)
	assert.Len(t, f.users(t), 2, "pruning the log never touches users")
	n, err = f.st.PruneInboundLog(f.ctx, f.ids[0])
	require.NoError(t, err)
	assert.Zero(t, n, "nothing is due again")
	assert.Len(t, f.log(t), 1)
}

// An inactive user's reason is written as the decision hands it over: an
// update that keeps him inactive keeps his reason.
func TestUpdateOfAnInactiveUserKeepsHisReason(t *testing.T) {
	f := newUsersFixture(t)
	reason := "account disabled in Microsoft (accountEnabled false): created inactive"
	u := f.newUser(azureA, "Alice")
	u.Row.Active, u.Row.InactiveReason = false, reason
	_, err := f.st.SaveUserPage(f.ctx, f.start(t, domain.RoundFull), store.UserPage{Users: []store.PageUser{u},
		End: &store.RoundEnd{DeltaLink: "https://graph.example/d"}})
	require.NoError(t, err)
	row := f.users(t)[azureA]
	require.Equal(t, reason, row.InactiveReason)

	row.Name = "Alice Renamed"
	_, err = f.st.SaveUserPage(f.ctx, f.start(t, domain.RoundDelta), store.UserPage{Users: []store.PageUser{{Row: &row,
		Log: &store.LogRow{AzureObjectID: azureA, PSAUserID: row.ID, Result: "updated",
			Changes: []domain.Change{{Field: "name", Old: "Alice", New: "Alice Renamed"}}}}},
		End: &store.RoundEnd{DeltaLink: "https://graph.example/d2"}})
	require.NoError(t, err)
	got := f.users(t)[azureA]
	assert.Equal(t, "Alice Renamed", got.Name)
	assert.False(t, got.Active)
	assert.Equal(t, reason, got.InactiveReason)
}

// A round's tables grown well past what PostgreSQL last counted are
// analysed, so the next pages are planned on their real size.
func TestFreshenStatisticsAnalysesTablesThatDoubled(t *testing.T) {
	f := newUsersFixture(t)
	r := f.start(t, domain.RoundFull)
	p := store.UserPage{Next: "https://graph.example/page2"}
	for i := 0; i < 2500; i++ {
		azure := fmt.Sprintf("%08x-0000-4000-8000-000000000000", i)
		p.Users = append(p.Users, f.newUser(azure, fmt.Sprint("User ", i)))
		p.Licences = append(p.Licences, store.UserLicences{AzureObjectID: azure, Skus: []string{"c42b9cae-ea4f-4ab7-9717-81576235ccac"}})
	}
	_, err := f.st.SaveUserPage(f.ctx, r, p)
	require.NoError(t, err)
	counted := func(table string) float64 {
		var n float64
		require.NoError(t, f.st.Pool().QueryRow(f.ctx, `SELECT reltuples FROM pg_class WHERE oid = $1::regclass`, table).Scan(&n))
		return n
	}
	require.Less(t, counted("psa_users"), 1000.0, "not analysed yet")
	// The inserts reach PostgreSQL's counters within a second or so.
	require.Eventually(t, func() bool {
		require.NoError(t, f.st.FreshenStatistics(f.ctx))
		return counted("psa_users") == 2500 && counted("user_licences") == 2500
	}, 30*time.Second, 200*time.Millisecond)
}
