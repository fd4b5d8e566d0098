package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/secrets"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/testenv"
)

func partner(id string) store.PartnerConfig {
	return store.PartnerConfig{ID: id, DisplayName: "Acme", PartnerTenantID: "acme.onmicrosoft.com",
		PCClientID: "pc-app", PCClientSecret: "pc-secret-value", GraphClientID: "graph-app",
		GraphClientSecret: "graph-secret-value", AuthorityURL: "https://login.example", PartnerCenterURL: "https://pc.example",
		GraphURL: "https://graph.example", DefaultRelationship: "GDAP"}
}

func TestOpenCreatesMissingDatabaseAndMigrationsAreIdempotent(t *testing.T) {
	ctx := context.Background()
	box, err := secrets.Load(secrets.NewKeyText(), "")
	require.NoError(t, err)
	missing := testenv.MissingDatabaseURL(t)
	_, err = store.Open(ctx, missing, box)
	require.ErrorIs(t, err, store.ErrNotMigrated, "only with CreateDatabase is a database created")
	st, err := store.Open(ctx, missing, box, store.CreateDatabase())
	require.NoError(t, err)
	defer st.Close()
	require.ErrorIs(t, st.RequireSchema(ctx), store.ErrNotMigrated)
	require.NoError(t, st.Migrate(ctx))
	require.NoError(t, st.RequireSchema(ctx))
	require.NoError(t, st.Migrate(ctx), "second migrate is a no-op")
	applied, latest, err := st.SchemaVersion(ctx)
	require.NoError(t, err)
	assert.Equal(t, latest, applied)
}

func TestUnreachableDatabaseNamesAddressAndFix(t *testing.T) {
	box, _ := secrets.Load(secrets.NewKeyText(), "")
	_, err := store.Open(context.Background(), "postgres://postgres@127.0.0.1:1/x?connect_timeout=2", box)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "127.0.0.1:1")
	assert.Contains(t, err.Error(), "CSPSYNC_DATABASE_URL")
}

func TestSecretsAreSealedAtRest(t *testing.T) {
	st, _, _ := testenv.Store(t)
	ctx := context.Background()
	require.NoError(t, st.UpsertPartner(ctx, partner("acme")))
	require.NoError(t, st.SaveTokenCache(ctx, "acme", "k", []byte(`{"RefreshToken":"rt-value"}`)))

	var raw string
	require.NoError(t, st.Pool().QueryRow(ctx, `SELECT concat(p::text, t::text) FROM partners p, token_caches t`).Scan(&raw))
	for _, s := range []string{"pc-secret-value", "graph-secret-value", "rt-value"} {
		assert.NotContains(t, raw, s)
	}
	creds, err := st.Credentials(ctx, "acme")
	require.NoError(t, err)
	assert.Equal(t, "pc-secret-value", creds.PCClientSecret)
	assert.Equal(t, "graph-secret-value", creds.GraphSecret)
	blob, err := st.LoadTokenCache(ctx, "acme", "k")
	require.NoError(t, err)
	assert.Contains(t, string(blob), "rt-value")
}

func TestAuthRequestIsSingleUse(t *testing.T) {
	st, _, _ := testenv.Store(t)
	ctx := context.Background()
	require.NoError(t, st.UpsertPartner(ctx, partner("acme")))
	_, err := st.CreateAuthRequest(ctx, store.AuthRequest{State: "s1", PartnerID: "acme", Kind: "authorise",
		CodeVerifier: "v", RedirectURI: "http://localhost/cb", TTL: time.Minute})
	require.NoError(t, err)

	r, err := st.ConsumeAuthRequest(ctx, "s1")
	require.NoError(t, err)
	assert.Equal(t, "v", r.CodeVerifier)
	_, err = st.ConsumeAuthRequest(ctx, "s1")
	assert.ErrorIs(t, err, store.ErrStateUsed)
	_, err = st.ConsumeAuthRequest(ctx, "nope")
	assert.ErrorIs(t, err, store.ErrUnknownState)

	_, err = st.CreateAuthRequest(ctx, store.AuthRequest{State: "old", PartnerID: "acme", Kind: "authorise",
		RedirectURI: "x", TTL: -time.Second})
	require.NoError(t, err)
	_, err = st.ConsumeAuthRequest(ctx, "old")
	assert.ErrorIs(t, err, store.ErrStateExpired)
}

func TestDiscoveryMatchesByTenantThenNameAndKeepsManualTenant(t *testing.T) {
	st, _, _ := testenv.Store(t)
	ctx := context.Background()
	require.NoError(t, st.UpsertPartner(ctx, partner("acme")))

	byName, err := testenv.CreateCustomer(ctx, st, "Contoso Ltd")
	require.NoError(t, err)
	manual, err := testenv.CreateCustomer(ctx, st, "Fabrikam (PSA name)")
	require.NoError(t, err)
	require.NoError(t, st.SetCustomerTenant(ctx, manual, "22222222-0000-0000-0000-000000000002"))

	page := []store.DiscoveredTenant{
		{TenantID: "11111111-0000-0000-0000-000000000001", Name: "CONTOSO LTD", Domain: "contoso.onmicrosoft.com"},
		{TenantID: "22222222-0000-0000-0000-000000000002", Name: "Fabrikam Inc", Domain: "fabrikam.onmicrosoft.com"},
		{TenantID: "33333333-0000-0000-0000-000000000003", Name: "Northwind", Domain: "northwind.onmicrosoft.com"},
	}
	counts, err := st.SaveDiscoveryPage(ctx, "acme", "", "cursor-1", page)
	require.NoError(t, err)
	assert.Equal(t, store.PageCounts{Inserted: 1, Linked: 1, Updated: 1}, counts)

	// Replaying the page from a stale cursor is refused; from the right one it only updates.
	_, err = st.SaveDiscoveryPage(ctx, "acme", "", "cursor-1", page)
	assert.ErrorIs(t, err, store.ErrCursorMoved)
	counts, err = st.SaveDiscoveryPage(ctx, "acme", "cursor-1", "", page)
	require.NoError(t, err)
	assert.Equal(t, store.PageCounts{Updated: 3}, counts)
	_, err = st.FinishDiscovery(ctx, "acme", true)
	require.NoError(t, err)

	customers, err := st.ListCustomers(ctx, "acme")
	require.NoError(t, err)
	require.Len(t, customers, 3)
	got := map[int64]store.Customer{}
	for _, c := range customers {
		got[c.ID] = c
	}
	assert.Equal(t, "11111111-0000-0000-0000-000000000001", got[byName].TenantID)
	assert.Equal(t, "Contoso Ltd", got[byName].Name, "the PSA's name is kept")
	assert.Equal(t, domain.GDAP, got[byName].Relationship)
	assert.Equal(t, domain.ConsentPending, got[byName].ConsentState)
	assert.Equal(t, "manual", got[manual].TenantIDSource)
	assert.Equal(t, "Fabrikam (PSA name)", got[manual].Name)
}

// Only a discovery that read every page itself retires the customers it did
// not list; they keep their rows and come back as themselves.
func TestCompleteDiscoveryRetiresUnlistedCustomersWhoComeBackAsThemselves(t *testing.T) {
	st, _, _ := testenv.Store(t)
	ctx := context.Background()
	p := partner("acme")
	p.SSOAllowedTenants = true
	require.NoError(t, st.UpsertPartner(ctx, p))
	a := store.DiscoveredTenant{TenantID: "11111111-0000-0000-0000-000000000001", Name: "A"}
	b := store.DiscoveredTenant{TenantID: "22222222-0000-0000-0000-000000000002", Name: "B"}
	c := store.DiscoveredTenant{TenantID: "33333333-0000-0000-0000-000000000003", Name: "C"}
	// A customer linked by hand and never discovered is no customer of the partner's.
	manual, err := testenv.CreateCustomer(ctx, st, "Manual")
	require.NoError(t, err)
	require.NoError(t, st.SetCustomerTenant(ctx, manual, "44444444-0000-0000-0000-000000000004"))
	discover := func(complete bool, pages ...[]store.DiscoveredTenant) (store.PageCounts, int) {
		t.Helper()
		var counts store.PageCounts
		from := ""
		for i, p := range pages {
			next := ""
			if i < len(pages)-1 {
				next = fmt.Sprint("cursor-", i+1)
			}
			got, err := st.SaveDiscoveryPage(ctx, "acme", from, next, p)
			require.NoError(t, err)
			counts.Add(got)
			from = next
		}
		left, err := st.FinishDiscovery(ctx, "acme", complete)
		require.NoError(t, err)
		return counts, left
	}
	byTenant := func() map[string]store.Customer {
		t.Helper()
		all, err := st.ListCustomers(ctx, "")
		require.NoError(t, err)
		out := map[string]store.Customer{}
		for _, cu := range all {
			out[cu.TenantID] = cu
		}
		return out
	}

	_, left := discover(true, []store.DiscoveredTenant{a, b}, []store.DiscoveredTenant{c})
	assert.Zero(t, left)
	before := byTenant()

	// B is gone, but this discovery did not read every page itself (resumed): no one leaves.
	_, left = discover(false, []store.DiscoveredTenant{a}, []store.DiscoveredTenant{c})
	assert.Zero(t, left)
	assert.Nil(t, byTenant()[b.TenantID].LeftAt)

	// A complete discovery without B retires B, and only B.
	_, left = discover(true, []store.DiscoveredTenant{a}, []store.DiscoveredTenant{c})
	assert.Equal(t, 1, left)
	now := byTenant()
	require.NotNil(t, now[b.TenantID].LeftAt)
	assert.Equal(t, before[b.TenantID].ID, now[b.TenantID].ID, "kept, not deleted")
	for _, id := range []string{a.TenantID, c.TenantID, "44444444-0000-0000-0000-000000000004"} {
		assert.Nil(t, now[id].LeftAt, id)
	}
	sso, err := st.SSOAllowedTenants(ctx)
	require.NoError(t, err)
	assert.Len(t, sso, 2)
	for _, s := range sso {
		assert.NotEqual(t, b.TenantID, s.TenantID, "a tenant that left is off the allowed list")
	}
	// Still gone at the next complete discovery: counted once.
	_, left = discover(true, []store.DiscoveredTenant{a, c})
	assert.Zero(t, left)

	// Listed again: the same customer, back.
	counts, left := discover(true, []store.DiscoveredTenant{c, b}, []store.DiscoveredTenant{a})
	assert.Zero(t, left)
	assert.Equal(t, store.PageCounts{Updated: 3, Returned: 1}, counts)
	back := byTenant()[b.TenantID]
	assert.Nil(t, back.LeftAt)
	assert.Equal(t, before[b.TenantID].ID, back.ID)
}

// Discovery gives a tenant the relationship Microsoft says it has, keeps an
// override by hand, keeps what it could not read, and marks the changes a
// running workflow must hear of.
func TestDiscoveryTakesMicrosoftsRelationshipButNeverOverridesAnOverride(t *testing.T) {
	st, _, _ := testenv.Store(t)
	ctx := context.Background()
	p := partner("acme")
	p.DefaultRelationship = domain.DAP
	require.NoError(t, st.UpsertPartner(ctx, p))
	end := time.Date(2027, 1, 15, 11, 0, 0, 0, time.UTC)
	active := domain.GDAPState{Status: "active", EndAt: &end, Name: "cspsync-a", Roles: []string{"88d8e3e3-8f55-4a1e-953a-9b9898b8876b"}}
	a := store.DiscoveredTenant{TenantID: "11111111-0000-0000-0000-000000000001", Name: "A", Relationship: domain.GDAP, GDAP: &active}
	b := store.DiscoveredTenant{TenantID: "22222222-0000-0000-0000-000000000002", Name: "B", GDAP: &domain.GDAPState{}}
	c := store.DiscoveredTenant{TenantID: "33333333-0000-0000-0000-000000000003", Name: "C", Relationship: domain.DAP, GDAP: &domain.GDAPState{}}
	discover := func(tenants ...store.DiscoveredTenant) map[string]store.Customer {
		t.Helper()
		_, err := st.SaveDiscoveryPage(ctx, "acme", "", "", tenants)
		require.NoError(t, err)
		_, err = st.FinishDiscovery(ctx, "acme", true)
		require.NoError(t, err)
		all, err := st.ListCustomers(ctx, "acme")
		require.NoError(t, err)
		out := map[string]store.Customer{}
		for _, cu := range all {
			out[cu.TenantID] = cu
		}
		return out
	}
	got := discover(a, b, c)
	assert.Equal(t, domain.GDAP, got[a.TenantID].Relationship)
	assert.Equal(t, domain.SourceMicrosoft, got[a.TenantID].RelationshipSource)
	assert.Equal(t, domain.ConsentPending, got[a.TenantID].ConsentState)
	assert.Equal(t, "active", got[a.TenantID].GDAP.Status)
	assert.True(t, end.Equal(*got[a.TenantID].GDAP.EndAt))
	assert.Equal(t, active.Roles, got[a.TenantID].GDAP.Roles)
	assert.Equal(t, domain.DAP, got[b.TenantID].Relationship, "Microsoft said nothing: the partner's default")
	assert.Equal(t, domain.SourceDefault, got[b.TenantID].RelationshipSource)
	assert.Equal(t, domain.SourceMicrosoft, got[c.TenantID].RelationshipSource)
	assert.Equal(t, domain.ConsentNotRequired, got[c.TenantID].ConsentState)
	for _, cu := range got {
		assert.False(t, cu.RelationshipChanged, "a new tenant's workflow starts from the store")
	}

	_, err := st.SetRelationship(ctx, a.TenantID, domain.DAP)
	require.NoError(t, err)
	expired := domain.GDAPState{Status: "expired", EndAt: &end, Name: "cspsync-a"}
	a.GDAP = &expired
	b.Relationship, b.GDAP = domain.GDAP, &domain.GDAPState{Status: "active", Name: "cspsync-b"}
	c.GDAP = nil // unreadable this time
	got = discover(a, b, c)
	assert.Equal(t, domain.DAP, got[a.TenantID].Relationship, "the override wins")
	assert.Equal(t, domain.SourceOverride, got[a.TenantID].RelationshipSource)
	assert.Equal(t, "expired", got[a.TenantID].GDAP.Status, "what Microsoft says is kept beside it")
	assert.Empty(t, got[a.TenantID].GDAP.Roles)
	assert.True(t, got[a.TenantID].RelationshipChanged)
	assert.Equal(t, domain.GDAP, got[b.TenantID].Relationship)
	assert.Equal(t, domain.SourceMicrosoft, got[b.TenantID].RelationshipSource)
	assert.Equal(t, domain.ConsentPending, got[b.TenantID].ConsentState)
	assert.True(t, got[b.TenantID].RelationshipChanged)
	assert.Equal(t, domain.DAP, got[c.TenantID].Relationship)
	assert.False(t, got[c.TenantID].RelationshipChanged)

	require.NoError(t, st.ClearRelationshipChanged(ctx, b.TenantID))
	cu, err := st.GetCustomerByTenant(ctx, b.TenantID)
	require.NoError(t, err)
	assert.False(t, cu.RelationshipChanged)
}

func TestSetCustomerTenantErrors(t *testing.T) {
	st, _, _ := testenv.Store(t)
	ctx := context.Background()
	a, _ := testenv.CreateCustomer(ctx, st, "A")
	b, _ := testenv.CreateCustomer(ctx, st, "B")
	require.NoError(t, st.SetCustomerTenant(ctx, a, "44444444-0000-0000-0000-000000000004"))
	err := st.SetCustomerTenant(ctx, b, "44444444-0000-0000-0000-000000000004")
	assert.ErrorContains(t, err, "already belongs")
	assert.ErrorContains(t, st.SetCustomerTenant(ctx, b, "not-a-guid"), "not a tenant id")
	assert.ErrorContains(t, st.SetCustomerTenant(ctx, 999, "55555555-0000-0000-0000-000000000005"), "customer 999")
}

func TestRecordErrorDeduplicatesWhileOpen(t *testing.T) {
	st, _, _ := testenv.Store(t)
	ctx := context.Background()
	require.NoError(t, st.UpsertPartner(ctx, partner("acme")))
	e := domain.ErrorInfo{Code: "AADSTS7000215", Cause: "m", Remediation: "r", Reaction: domain.NeedsFix}
	for i := 0; i < 3; i++ {
		require.NoError(t, st.RecordError(ctx, "acme", "", domain.OpDiscovery, e))
	}
	open, err := st.ListErrors(ctx, "acme", false)
	require.NoError(t, err)
	require.Len(t, open, 1)
	assert.Equal(t, 3, open[0].Occurrences)

	require.NoError(t, st.ResolveErrors(ctx, "acme", "", "discovery"))
	require.NoError(t, st.RecordError(ctx, "acme", "", domain.OpDiscovery, e))
	all, err := st.ListErrors(ctx, "acme", true)
	require.NoError(t, err)
	assert.Len(t, all, 2, "a recurrence after resolution is a new row")
}

func TestOneLiveConsentLinkPerTenantAndOldRequestsPurged(t *testing.T) {
	st, _, _ := testenv.Store(t)
	ctx := context.Background()
	require.NoError(t, st.UpsertPartner(ctx, partner("acme")))
	const tenant = "66666666-0000-0000-0000-000000000006"
	consent := func(state string) store.AuthRequest {
		return store.AuthRequest{State: state, PartnerID: "acme", Kind: "consent", TenantID: tenant, RedirectURI: "x", TTL: time.Hour}
	}
	_, err := st.CreateAuthRequest(ctx, consent("first"))
	require.NoError(t, err)
	expires, err := st.CreateAuthRequest(ctx, consent("second"))
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(time.Hour), expires, time.Minute)

	_, err = st.PendingAuthRequest(ctx, "first")
	assert.ErrorIs(t, err, store.ErrUnknownState, "the new link replaced the old one")
	links, err := st.LiveConsentLinks(ctx, "acme")
	require.NoError(t, err)
	assert.Equal(t, map[string]time.Time{tenant: expires}, links)

	// Looking does not use the state up; consuming does, and the used link is no longer live.
	r, err := st.PendingAuthRequest(ctx, "second")
	require.NoError(t, err)
	assert.Equal(t, tenant, r.TenantID)
	_, err = st.ConsumeAuthRequest(ctx, "second")
	require.NoError(t, err)
	_, err = st.PendingAuthRequest(ctx, "second")
	assert.ErrorIs(t, err, store.ErrStateUsed)
	links, err = st.LiveConsentLinks(ctx, "")
	require.NoError(t, err)
	assert.Empty(t, links)

	// Requests expired or used over an hour ago go when the next one is created.
	_, err = st.CreateAuthRequest(ctx, store.AuthRequest{State: "stale", PartnerID: "acme", Kind: "authorise", RedirectURI: "x", TTL: -2 * time.Hour})
	require.NoError(t, err)
	_, err = st.Pool().Exec(ctx, `UPDATE auth_requests SET used_at = now() - interval '2 hours' WHERE tenant_id IS NOT NULL`)
	require.NoError(t, err)
	_, err = st.CreateAuthRequest(ctx, store.AuthRequest{State: "fresh", PartnerID: "acme", Kind: "authorise", RedirectURI: "x", TTL: time.Hour})
	require.NoError(t, err)
	var left []string
	rows, err := st.Pool().Query(ctx, `SELECT kind FROM auth_requests`)
	require.NoError(t, err)
	left, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	assert.Equal(t, []string{"authorise"}, left, "only the fresh request remains")
}

func TestOperatorSessionsAreHashedExpireAndArePurged(t *testing.T) {
	st, _, _ := testenv.Store(t)
	ctx := context.Background()
	require.NoError(t, st.UpsertPartner(ctx, partner("acme")))
	s := store.OperatorSession{PartnerID: "acme", UPN: "op@acme.example", Name: "Op", Groups: []string{"g"}, ExpiresAt: time.Now().Add(time.Hour)}
	require.NoError(t, st.CreateOperatorSession(ctx, "token-1", s))
	got, err := st.GetOperatorSession(ctx, "token-1")
	require.NoError(t, err)
	assert.Equal(t, []string{"g"}, got.Groups)
	assert.Equal(t, "op@acme.example", got.UPN)
	var raw string
	require.NoError(t, st.Pool().QueryRow(ctx, `SELECT o::text FROM operator_sessions o`).Scan(&raw))
	assert.NotContains(t, raw, "token-1", "only the token's hash is stored")

	s.ExpiresAt = time.Now().Add(-time.Second)
	require.NoError(t, st.CreateOperatorSession(ctx, "expired", s))
	_, err = st.GetOperatorSession(ctx, "expired")
	assert.ErrorIs(t, err, store.ErrNotFound)
	_, err = st.GetOperatorSession(ctx, "unknown")
	assert.ErrorIs(t, err, store.ErrNotFound)
	s.ExpiresAt = time.Now().Add(time.Hour)
	require.NoError(t, st.CreateOperatorSession(ctx, "token-2", s))
	var n int
	require.NoError(t, st.Pool().QueryRow(ctx, `SELECT count(*) FROM operator_sessions`).Scan(&n))
	assert.Equal(t, 2, n, "the expired session was purged")

	require.NoError(t, st.DeleteOperatorSession(ctx, "token-1"))
	_, err = st.GetOperatorSession(ctx, "token-1")
	assert.ErrorIs(t, err, store.ErrNotFound)
}

// A token written by an activity still running when the partner was
// disconnected is not stored: the partner's tokens stay forgotten until a
// sign-in allows them again.
func TestDisconnectedPartnerStoresNoTokensUntilAuthorisedAgain(t *testing.T) {
	st, _, _ := testenv.Store(t)
	ctx := context.Background()
	require.NoError(t, st.UpsertPartner(ctx, partner("acme")))
	require.NoError(t, st.SaveTokenCache(ctx, "acme", "k", []byte(`{"RefreshToken":"rt-1"}`)))
	require.NoError(t, st.Disconnect(ctx, "acme"))
	require.NoError(t, st.SaveTokenCache(ctx, "acme", "k", []byte(`{"RefreshToken":"rt-late"}`)), "a late write is skipped, not an error")
	blob, err := st.LoadTokenCache(ctx, "acme", "k")
	require.NoError(t, err)
	assert.Nil(t, blob)

	require.NoError(t, st.AllowTokens(ctx, "acme"))
	require.NoError(t, st.SaveTokenCache(ctx, "acme", "k", []byte(`{"RefreshToken":"rt-2"}`)))
	blob, err = st.LoadTokenCache(ctx, "acme", "k")
	require.NoError(t, err)
	assert.Contains(t, string(blob), "rt-2")
}

// A page and its cursor commit together or not at all: whichever of the two
// fails, the other is not kept.
func TestDiscoveryPageAndCursorCommitTogether(t *testing.T) {
	st, _, _ := testenv.Store(t)
	ctx := context.Background()
	require.NoError(t, st.UpsertPartner(ctx, partner("acme")))
	// Constraints that make one tenant's upsert, or one cursor value, fail.
	_, err := st.Pool().Exec(ctx, `ALTER TABLE customers ADD CONSTRAINT test_poison_tenant CHECK (name <> 'Poison Ltd');
		ALTER TABLE partners ADD CONSTRAINT test_poison_cursor CHECK (discovery_cursor IS DISTINCT FROM 'poison-cursor')`)
	require.NoError(t, err)
	good := store.DiscoveredTenant{TenantID: "11111111-0000-0000-0000-000000000001", Name: "Contoso", Domain: "contoso.example"}
	poison := store.DiscoveredTenant{TenantID: "22222222-0000-0000-0000-000000000002", Name: "Poison Ltd", Domain: "poison.example"}
	saved := func() int {
		n, err := testenv.CountCustomers(ctx, st, "acme")
		require.NoError(t, err)
		return n
	}
	cursor := func() string {
		c, err := st.DiscoveryCursor(ctx, "acme")
		require.NoError(t, err)
		return c
	}

	// An upsert fails part way through the page: the cursor stays where it was.
	_, err = st.SaveDiscoveryPage(ctx, "acme", "", "cursor-1", []store.DiscoveredTenant{good, poison})
	require.ErrorContains(t, err, "Poison Ltd")
	assert.Empty(t, cursor(), "the cursor did not move past a page that was not saved")
	assert.Zero(t, saved(), "nothing of the failed page was kept")

	// The cursor cannot be saved: no tenant of the page is kept.
	_, err = st.SaveDiscoveryPage(ctx, "acme", "", "poison-cursor", []store.DiscoveredTenant{good})
	require.Error(t, err)
	assert.Zero(t, saved(), "tenants of a page whose cursor was not saved are not kept")
	assert.Empty(t, cursor())

	// The same page with a cursor that can be saved commits both.
	counts, err := st.SaveDiscoveryPage(ctx, "acme", "", "cursor-1", []store.DiscoveredTenant{good})
	require.NoError(t, err)
	assert.Equal(t, store.PageCounts{Inserted: 1}, counts)
	assert.Equal(t, 1, saved())
	assert.Equal(t, "cursor-1", cursor())
}

// Overriding the relationship follows domain.ConsentFor on the tenant's
// stored consent: GDAP keeps a consent it already has, DAP needs none but
// keeps a grant.
func TestSetRelationshipKeepsAConsentTheTenantHas(t *testing.T) {
	st, _, _ := testenv.Store(t)
	ctx := context.Background()
	require.NoError(t, st.UpsertPartner(ctx, partner("acme"))) // default GDAP: tenants arrive pending
	ids := []string{"11111111-0000-0000-0000-000000000001", "22222222-0000-0000-0000-000000000002",
		"33333333-0000-0000-0000-000000000003", "44444444-0000-0000-0000-000000000004"}
	var page []store.DiscoveredTenant
	for i, id := range ids {
		page = append(page, store.DiscoveredTenant{TenantID: id, Name: "Tenant " + string(rune('A'+i))})
	}
	_, err := st.SaveDiscoveryPage(ctx, "acme", "", "", page)
	require.NoError(t, err)

	cases := []struct {
		tenant string
		stored domain.Consent
		rel    domain.Relationship
		want   domain.Consent
	}{
		{ids[0], domain.ConsentGranted, domain.GDAP, domain.ConsentGranted},
		{ids[1], domain.ConsentRevoked, domain.GDAP, domain.ConsentRevoked},
		{ids[2], domain.ConsentGranted, domain.DAP, domain.ConsentGranted},
		{ids[3], domain.ConsentPending, domain.DAP, domain.ConsentNotRequired},
	}
	for _, c := range cases {
		require.NoError(t, st.SetConsentState(ctx, c.tenant, c.stored))
		cu, err := st.SetRelationship(ctx, c.tenant, c.rel)
		require.NoError(t, err)
		assert.Equal(t, c.want, cu.ConsentState, "%s with %s consent", c.rel, c.stored)
		assert.Equal(t, c.rel, cu.Relationship)
		assert.Equal(t, domain.SourceOverride, cu.RelationshipSource)
	}
	// Back to GDAP, the tenant that needed no consent needs one again.
	cu, err := st.SetRelationship(ctx, ids[3], domain.GDAP)
	require.NoError(t, err)
	assert.Equal(t, domain.ConsentPending, cu.ConsentState)
}
