package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/microsoft"
	"github.com/cspsync/cspsync/internal/sim"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/testenv"
)

// Hostile values from Microsoft (a NUL byte, a 1 MB name, escape and bidi
// characters, an invalid email) and a user the database refuses stop no
// round: the others are imported, the bad ones are cleaned or logged
// invalid with the reason, and nothing raw reaches PostgreSQL. A page the
// database refuses for a reason retrying cannot fix is a recorded tenant
// error at its first occurrence.
func TestBadDataFromMicrosoftNeverStopsARound(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 151, Tenants: 1, UsersPerTenant: 20})
	s := testenv.NewStack(t, sc, sim.Options{})
	s.Worker.UserPageSize = 7
	s.StartWorker()
	authorise(t, s, connectOpts{})
	tn := sc.Tenants[0]
	waitTenants(t, s, time.Minute, func(ts map[string]store.Customer) bool { return allIn(ts, domain.TenantReady, sc.Tenants...) })
	ctx := context.Background()
	_, err := s.Store.Pool().Exec(ctx, `ALTER TABLE psa_users ADD CONSTRAINT psa_title CHECK (job_title <> 'Refused by the PSA')`)
	require.NoError(t, err)

	// The tenant's first cycle may have imported them already, as they were.
	truth := truthUsers(t, s, tn.ID)
	before := map[string]sim.TenantUser{}
	for _, u := range truth {
		before[u.ID] = u
	}
	ptr := func(v string) *string { return &v }
	nul, huge, escaped, badMail, refused := truth[1], truth[3], truth[5], truth[8], truth[13]
	require.NoError(t, s.Sim.UpdateUser(tn.ID, nul.ID, sim.UserPatch{JobTitle: ptr("Engi\x00neer"), Department: ptr("\x00")}))
	require.NoError(t, s.Sim.UpdateUser(tn.ID, huge.ID, sim.UserPatch{DisplayName: ptr(strings.Repeat("Ω", 1<<19))}))
	require.NoError(t, s.Sim.UpdateUser(tn.ID, escaped.ID, sim.UserPatch{DisplayName: ptr("Eve\x1b]0;pwned\x07 \u202eLive\u009b2J\x7f Müller\u0301")}))
	require.NoError(t, s.Sim.UpdateUser(tn.ID, badMail.ID, sim.UserPatch{Mail: ptr("not an address")}))
	require.NoError(t, s.Sim.UpdateUser(tn.ID, refused.ID, sim.UserPatch{JobTitle: ptr("Refused by the PSA")}))

	out := syncUsers(t, s, tn.ID, "--full")
	assert.Contains(t, out, "3 invalid")
	got := psaUsers(t, s, tn.ID)
	truth = truthUsers(t, s, tn.ID)
	for _, u := range truth {
		switch u.ID {
		case huge.ID, badMail.ID, refused.ID:
			if r, imported := got[u.ID]; imported {
				assert.Equal(t, expected(before[u.ID], "Main"), r, "invalid user %s keeps his row as it was", u.UserPrincipalName)
			}
		case nul.ID:
			r := row(t, got, u.ID)
			assert.Equal(t, "Engineer", r.JobTitle, "the NUL byte is dropped")
			assert.Empty(t, r.Department)
		case escaped.ID:
			assert.Equal(t, "Eve]0;pwned Live2J Müller\u0301", row(t, got, u.ID).Name, "controls and bidi dropped, letters and marks kept")
		default:
			assert.Equal(t, expected(u, "Main"), row(t, got, u.ID), "user %s", u.UserPrincipalName)
		}
	}
	reasons := map[string]string{huge.ID: "name is", badMail.ID: "is not a valid address", refused.ID: "psa_title"}
	cu, err := s.Store.GetCustomerByTenant(ctx, tn.ID)
	require.NoError(t, err)
	for id, want := range reasons {
		l, err := s.Store.InboundLog(ctx, cu.ID, id, 1)
		require.NoError(t, err)
		require.Len(t, l, 1)
		assert.Equal(t, "invalid", l[0].Result)
		assert.Contains(t, l[0].Reason, want)
	}
	assert.Empty(t, listErrors(t, s, "acme", true), "no error: the round finished")

	// Nothing raw in the tables: every text column of both, as PostgreSQL has it.
	for _, q := range []string{
		`SELECT concat_ws('|', name, email, network_login, phone, mobile, job_title, department, inactive_reason, custom_fields::text) FROM psa_users`,
		`SELECT concat_ws('|', mapping, match_rule, changes::text, reason) FROM inbound_log`,
	} {
		rows, err := s.Store.Pool().Query(ctx, q)
		require.NoError(t, err)
		n := 0
		for rows.Next() {
			var v string
			require.NoError(t, rows.Scan(&v))
			assertInert(t, q, strings.ReplaceAll(v, `\u0000`, "\x00"))
			assert.LessOrEqual(t, len(v), 64<<10, "no value near the 1 MB one")
			n++
		}
		require.NoError(t, rows.Err())
		assert.NotZero(t, n)
	}

	// A page the database refuses whoever is in it: one recorded error with
	// its fix, at once.
	_, err = s.Store.Pool().Exec(ctx, `ALTER TABLE user_rounds ADD CONSTRAINT no_pages CHECK (pages < 1) NOT VALID`)
	require.NoError(t, err)
	out, err = runCLI(t, s, "sync", "--tenant", tn.ID, "--full", "--wait", "--timeout", "30s")
	require.Error(t, err, out)
	out += err.Error()
	errs := listErrors(t, s, "acme", false)
	require.Len(t, errs, 1, out)
	assert.Equal(t, microsoft.CodePageNotStored, errs[0].Code)
	assert.Equal(t, tn.ID, errs[0].TenantID)
	assert.Equal(t, 1, errs[0].Occurrences, "recorded at its first occurrence, not after retries")
	assert.Contains(t, errs[0].Message, "no_pages")
	assert.Contains(t, out, microsoft.CodePageNotStored, "sync --wait shows it")
	listed := ""
	require.Eventually(t, func() bool {
		listed = mustCLI(t, s, "tenants", "list")
		return strings.Contains(listed, microsoft.CodePageNotStored)
	}, 30*time.Second, 200*time.Millisecond, "tenants list shows the users round's error")
	assertTenantErrorShown(t, s, strconv.FormatInt(cu.ID, 10), microsoft.CodePageNotStored)
}

// assertTenantErrorShown checks that a tenant's open error is counted by
// `status`, which sends to `errors list`, and shown with its code on the
// customer's console page.
func assertTenantErrorShown(t *testing.T, s *testenv.Stack, customerID, code string) {
	t.Helper()
	status := mustCLI(t, s, "status")
	assert.Contains(t, status, "see `cspsync errors list`", status)
	var st []struct {
		OpenErrors int `json:"open_errors"`
	}
	require.NoError(t, json.Unmarshal([]byte(mustCLI(t, s, "status", "--json")), &st))
	require.Len(t, st, 1)
	assert.Equal(t, 1, st[0].OpenErrors, "status counts the tenant's error")
	hc, _ := operatorSession(t, s, sim.DefaultOperatorUPN)
	resp, page := call(t, s, hc, http.MethodGet, "/customers/"+customerID, nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, page)
	assert.Contains(t, page, code, "the customer's page shows the error")
}
