package e2e

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/sim"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/testenv"
	"github.com/cspsync/cspsync/workflows"
)

// Running `connect` again for an authorised partner and cancelling at
// Microsoft changes nothing: the stored refresh token still works, so the
// partner stays authorised and no tenant pauses; the failure is shown with a
// fix about the sign-in.
func TestCancelledReauthorisationLeavesAnAuthorisedPartnerAuthorised(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 31, Tenants: 3, UsersPerTenant: 1})
	s := testenv.NewStack(t, sc, sim.Options{})
	s.StartWorker()
	ctx := context.Background()
	authorise(t, s, connectOpts{})
	before := waitTenants(t, s, 30*time.Second, func(ts map[string]store.Customer) bool {
		return allIn(ts, domain.TenantReady, sc.Tenants...) && ts[sc.Tenants[0].ID].LastSyncAt != nil
	})

	// Microsoft sends a cancelled sign-in back with the state and an error.
	link, err := url.Parse(connect(t, s, connectOpts{partner: "acme"}))
	require.NoError(t, err)
	status, page := s.FollowRedirect(s.Worker.PublicURL + "/auth/callback?" + url.Values{
		"state": {link.Query().Get("state")}, "error": {"access_denied"},
		"error_description": {"AADSTS65004: User declined to consent to access the app."}}.Encode())
	assert.Equal(t, http.StatusBadGateway, status)
	assert.Contains(t, page, "AADSTS65004")
	assert.Contains(t, page, "cspsync connect")
	assert.NotContains(t, page, "Global Administrator", "a sign-in refusal is not about tenant consent")
	assert.Contains(t, page, "stays authorised")

	p, err := s.Store.GetPartner(ctx, "acme")
	require.NoError(t, err)
	assert.Equal(t, domain.AuthAuthorised, p.AuthState)
	st, err := workflows.QueryPartnerState.Get(ctx, s.Client, workflows.PartnerWorkflowID("acme"))
	require.NoError(t, err)
	assert.Equal(t, domain.AuthAuthorised, st.Auth)
	assert.False(t, st.TenantsPaused)
	errs := listErrors(t, s, "acme", false)
	require.Len(t, errs, 1)
	assert.Equal(t, domain.OpAuthorise, errs[0].Operation)
	assert.Equal(t, "AADSTS65004", errs[0].Code)
	out, err := runCLI(t, s, "status")
	require.NoError(t, err)
	assert.Contains(t, out, "AADSTS65004")

	// The tenants keep syncing on the stored token.
	tenant := sc.Tenants[0].ID
	_, err = runCLI(t, s, "tenants", "sync", tenant)
	require.NoError(t, err)
	waitTenants(t, s, 30*time.Second, func(ts map[string]store.Customer) bool {
		return allIn(ts, domain.TenantReady, sc.Tenants...) && ts[tenant].LastSyncAt.After(*before[tenant].LastSyncAt)
	})
	out, err = runCLI(t, s, "sync", "--partner", "acme", "--wait", "--timeout", "1m")
	require.NoError(t, err, out)
	assert.Contains(t, out, "Discovered 3 tenants")
}

// `sync --wait` while Microsoft cannot be reached reports the recorded cause
// and fix instead of waiting out its timeout and blaming the worker.
func TestSyncWaitReportsTheRecordedCauseWhenMicrosoftIsUnreachable(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 32, Tenants: 2, UsersPerTenant: 1})
	s := testenv.NewStack(t, sc, sim.Options{})
	s.StartWorker()
	authorise(t, s, connectOpts{})

	require.NoError(t, s.Sim.Close()) // Microsoft is unreachable
	out, err := runCLI(t, s, "sync", "--partner", "acme", "--wait", "--timeout", "40s")
	require.Error(t, err, out)
	msg := err.Error()
	t.Log(msg)
	assert.Contains(t, msg, "Network")
	assert.Contains(t, msg, "Microsoft could not be reached")
	assert.Contains(t, msg, "check the network, proxy and CA settings")
	assert.Contains(t, msg, "keeps retrying")
	assert.NotContains(t, msg, "worker running")
	assert.False(t, strings.Contains(msg, "did not finish within 40s"), msg)
}
