package activities_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/cspsync/cspsync/activities"
	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/microsoft"
	"github.com/cspsync/cspsync/internal/sim"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/testenv"
)

// queryLog records every statement sent to PostgreSQL, and whether it ran
// inside a transaction.
type queryLog struct {
	mu      sync.Mutex
	inTx    bool
	queries []loggedQuery
}

type loggedQuery struct {
	sql  string
	inTx bool
}

func (l *queryLog) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	l.mu.Lock()
	defer l.mu.Unlock()
	sql := strings.ToLower(strings.TrimSpace(d.SQL))
	switch {
	case strings.HasPrefix(sql, "begin"):
		l.inTx = true
	case strings.HasPrefix(sql, "commit"), strings.HasPrefix(sql, "rollback"):
		l.inTx = false
	default:
		l.queries = append(l.queries, loggedQuery{sql: sql, inTx: l.inTx})
	}
	return ctx
}

func (l *queryLog) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (l *queryLog) reset() { l.mu.Lock(); l.queries = nil; l.mu.Unlock() }

// count returns the statements outside transactions that touch the token
// cache, read the partner's configuration or secrets, and do anything else,
// and the statements inside transactions.
func (l *queryLog) count() (tokenCache, partnerReads, other int, txStatements int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, q := range l.queries {
		switch {
		case q.inTx:
			txStatements++
		case strings.Contains(q.sql, "token_caches"):
			tokenCache++
		case strings.Contains(q.sql, "from partners") && (strings.Contains(q.sql, "client_secret") || strings.Contains(q.sql, "display_name")):
			partnerReads++ // the partner's configuration or secrets
		default:
			other++
		}
	}
	return
}

// An activity reads its partner and secrets once; every Partner Center page
// then costs the token cache's own load (and a save when a token was fetched)
// plus the page's commit, and no other round trip.
func TestDiscoveryReadsPartnerOnceAndPagesCostOnlyTheirCommit(t *testing.T) {
	ctx := context.Background()
	log := &queryLog{}
	st, _, _ := testenv.Store(t, store.WithTracer(log))
	sc := sim.Generate(sim.GenerateOptions{Seed: 7, Tenants: 12, UsersPerTenant: 1})
	srv, err := sim.New(sc, sim.Options{StateDir: t.TempDir()})
	require.NoError(t, err)
	require.NoError(t, srv.Start())
	t.Cleanup(func() { _ = srv.Close() })
	hc, err := microsoft.NewHTTPClient(srv.CAFile())
	require.NoError(t, err)
	auth := &microsoft.Auth{HTTP: hc, Cache: st}

	// Authorise the partner the way the callback does.
	require.NoError(t, st.UpsertPartner(ctx, store.PartnerConfig{ID: "acme", DisplayName: "Acme", PartnerTenantID: sc.PartnerTenantID,
		PCClientID: sim.DefaultPCClientID, PCClientSecret: sim.DefaultPCSecret, GraphClientID: sim.DefaultGraphClientID,
		GraphClientSecret: sim.DefaultGraphSecret, AuthorityURL: srv.URL(), PartnerCenterURL: srv.URL(), GraphURL: srv.URL(),
		DefaultRelationship: domain.DAP}))
	creds, err := st.Credentials(ctx, "acme")
	require.NoError(t, err)
	verifier, challenge := microsoft.PKCE()
	redirect := "http://localhost:8400/auth/callback"
	u, err := auth.AuthorizeURL(ctx, creds, redirect, "state", challenge)
	require.NoError(t, err)
	back, err := sim.SignIn(ctx, hc, u, sim.DefaultAdminUPN, sim.DefaultAdminPassword, sim.DefaultMFACode)
	require.NoError(t, err)
	account, err := auth.RedeemCode(ctx, creds, back.Query().Get("code"), verifier, redirect)
	require.NoError(t, err)
	require.NoError(t, st.SetPartnerAuthorised(ctx, "acme", account))

	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(&activities.Activities{Store: st, Auth: auth, DiscoveryPageSize: 2})
	log.reset()
	var a *activities.Activities
	v, err := env.ExecuteActivity(a.DiscoverTenants, "acme")
	require.NoError(t, err)
	var res activities.DiscoveryResult
	require.NoError(t, v.Get(&res))
	require.Equal(t, 6, res.Pages)
	require.Equal(t, 12, res.Inserted)

	tokenCache, partnerReads, other, inTx := log.count()
	assert.Equal(t, 1, partnerReads, "the partner and its secrets are read once, not once per page")
	// Resolving the partner's GDAP read errors and listing the tenants' open
	// ones, the cursor read before the first page and resolving the
	// discovery's errors at the end (clearing the cursor commits with the
	// retirement of customers that left): nothing per page.
	assert.Equal(t, 4, other, "%v", log.queries)
	assert.LessOrEqual(t, tokenCache, 3*res.Pages, "MSAL's cache load (and a save when it fetched a token) per page")
	assert.Positive(t, inTx, "each page commits with its cursor")
}
