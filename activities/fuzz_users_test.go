package activities

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/secrets"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/text"
	"github.com/cspsync/cspsync/internal/usersync"
)

func guid() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// fuzzStore is a migrated store on a database of its own, dropped at the
// end (testenv's helper imports this package, through the wiring).
func fuzzStore(f testing.TB) *store.Store {
	ctx := context.Background()
	admin := os.Getenv("CSPSYNC_TEST_DATABASE_URL")
	if admin == "" {
		admin = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	cfg, err := pgx.ParseConfig(admin)
	require.NoError(f, err)
	name := fmt.Sprintf("cspsync_fuzz_%d", time.Now().UnixNano())
	cfg.Database = name
	box, err := secrets.Load(secrets.NewKeyText(), "")
	require.NoError(f, err)
	// ConnString() is the string cfg was parsed from, whatever cfg.Database says: the URL
	// must name the fuzz database itself, or the fuzzing writes to (and migrates) the admin one.
	u, err := url.Parse(admin)
	require.NoError(f, err, "CSPSYNC_TEST_DATABASE_URL must be a postgres:// URL")
	u.Path = "/" + name
	st, err := store.Open(ctx, u.String(), box, store.CreateDatabase())
	require.NoError(f, err)
	f.Cleanup(func() {
		st.Close()
		cfg.Database = "postgres"
		if conn, err := pgx.ConnectConfig(context.Background(), cfg); err == nil {
			_, _ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			_ = conn.Close(context.Background())
		}
	})
	require.NoError(f, st.Migrate(ctx))
	return st
}

// oneCustomerRounds makes, on a private database, a partner with one
// customer whose every user goes to one site, and returns a full round of
// that customer over one users/delta page of the given users (decided and
// saved as the activity does), which must end.
func oneCustomerRounds(tb testing.TB, name string) (*store.Store, store.Customer, func(t testing.TB, users ...any) store.UserRound) {
	tb.Helper()
	ctx := context.Background()
	st := fuzzStore(tb)
	require.NoError(tb, st.UpsertPartner(ctx, store.PartnerConfig{ID: "acme", DisplayName: "Acme", PartnerTenantID: guid(),
		PCClientID: "pc", PCClientSecret: "s", GraphClientID: "g", GraphClientSecret: "s", DefaultRelationship: domain.DAP}))
	tenantID := guid()
	_, err := st.SaveDiscoveryPage(ctx, "acme", "", "", []store.DiscoveredTenant{{TenantID: tenantID, Name: name, Domain: strings.ToLower(name) + ".example"}})
	require.NoError(tb, err)
	cu, err := st.GetCustomerByTenant(ctx, tenantID)
	require.NoError(tb, err)
	site, err := st.AddSite(ctx, cu.ID, name)
	require.NoError(tb, err)
	require.NoError(tb, st.SetSiteMappings(ctx, cu.ID, []store.SiteMapping{{Filter: "", SiteID: site.ID}}))
	a := &Activities{Store: st}
	plan, maxShare, err := a.userPlan(ctx, "acme", cu.ID)
	require.NoError(tb, err)
	return st, cu, func(t testing.TB, users ...any) store.UserRound {
		t.Helper()
		body, err := json.Marshal(map[string]any{"value": users, "@odata.deltaLink": "https://graph.microsoft.com/v1.0/users/delta?$deltatoken=x"})
		require.NoError(t, err)
		rd := &usersRound{a: a, partnerID: "acme", tenantID: tenantID, customerID: cu.ID, plan: plan, maxShare: maxShare}
		r, err := st.StartUserRound(ctx, cu.ID, domain.RoundFull)
		require.NoError(t, err)
		p, err := rd.decide(ctx, r, body)
		require.NoError(t, err)
		r, err = rd.save(ctx, r, p)
		require.NoError(t, err, "the round ends")
		require.NotNil(t, r.FinishedAt)
		return r
	}
}

// FuzzUsersPage feeds a users/delta page whose middle user carries arbitrary
// text in his properties (any bytes Graph's JSON can escape, any length)
// through decoding, deciding and writing against a real database: the round
// ends, the users around him are written as Microsoft has them, he is
// written or logged, and nothing unsafe is stored. enabled, when it is JSON,
// is his accountEnabled as sent, of whatever type: one of the wrong type
// makes him unreadable, never his page.
func FuzzUsersPage(f *testing.F) {
	f.Add("Jo\x00hn", "Engi\x00neer", "not an address", "\x1b]0;x\x07", "\u202e+1 555", "true")
	f.Add(strings.Repeat("Ω", 5000), "", "a@b.example", "\x9b2J", "", `"yes"`)
	f.Add("", "\r\n\t", "<a@b.example>", "\xff\xfe", "\u2028", "null")
	f.Add("Ann", "", "ann@b.example", "", "", `{"nested":[1,2]}`)
	f.Add("Ann", "", "ann@b.example", "", "", "12")
	ctx := context.Background()
	st, cu, fullRound := oneCustomerRounds(f, "Fuzz")

	f.Fuzz(func(t *testing.T, name, title, mail, dept, phone, enabled string) {
		good := func(n int) map[string]any {
			return map[string]any{"id": guid(), "displayName": fmt.Sprintf("Good %d", n), "mail": fmt.Sprintf("good%d@fuzz.example", n),
				"accountEnabled": true}
		}
		before, after := good(1), good(2)
		fuzzed := map[string]any{"id": guid(), "displayName": name, "jobTitle": title, "mail": mail, "department": dept,
			"businessPhones": []string{phone}, "accountEnabled": true}
		if json.Valid([]byte(enabled)) {
			fuzzed["accountEnabled"] = json.RawMessage(enabled)
		}
		fullRound(t, before, fuzzed, after)

		users, err := st.ListUsers(ctx, cu.ID)
		require.NoError(t, err)
		byID := map[string]domain.PSAUser{}
		for _, u := range users {
			byID[u.AzureObjectID] = u
			for _, v := range []string{u.Name, u.Email, u.JobTitle, u.Department, u.Phone, u.InactiveReason} {
				require.Equal(t, text.Clean(v, len(v)), v, "stored text is clean")
			}
		}
		for _, g := range []map[string]any{before, after} {
			u, ok := byID[g["id"].(string)]
			require.True(t, ok, "the users around him are written")
			require.Equal(t, g["displayName"], u.Name)
			require.True(t, u.Active)
		}
		if _, ok := byID[fuzzed["id"].(string)]; !ok {
			l, err := st.InboundLog(ctx, cu.ID, fuzzed["id"].(string), 1)
			require.NoError(t, err)
			require.Len(t, l, 1, "not written, he is logged")
			require.Contains(t, []string{string(usersync.Invalid), string(usersync.Excluded)}, l[0].Result)
			require.NotEmpty(t, l[0].Reason)
		}
	})
}
