package activities_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/cspsync/cspsync/activities"
	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/microsoft"
	"github.com/cspsync/cspsync/internal/sim"
	"github.com/cspsync/cspsync/internal/store"
)

// A user the database refuses (here a PSA-side constraint on job titles) is
// logged invalid with PostgreSQL's reason; the others of his page are
// written and the round finishes.
func TestUserTheDatabaseRefusesIsLoggedInvalid(t *testing.T) {
	f := authorised(t, sim.Generate(sim.GenerateOptions{Seed: 44, Tenants: 1, UsersPerTenant: 12}), domain.DAP)
	f.discover(t)
	tn := f.sc.Tenants[0]
	ctx := context.Background()
	_, err := f.st.Pool().Exec(ctx, `ALTER TABLE psa_users ADD CONSTRAINT psa_title CHECK (job_title <> 'Refused')`)
	require.NoError(t, err)
	truth := f.truth(t, tn.ID)
	bad := truth[2]
	title := "Refused"
	require.NoError(t, f.sim.UpdateUser(tn.ID, bad.ID, sim.UserPatch{JobTitle: &title}))

	res := f.syncUsers(t, tn.ID, false)
	assert.Equal(t, len(truth), res.Users)
	assert.Equal(t, 1, res.Invalid)
	assert.Equal(t, len(truth)-1, res.Created)
	got := f.psaUsers(t, tn.ID)
	assert.Len(t, got, len(truth)-1)
	_, written := got[bad.ID]
	assert.False(t, written)
	l := f.logOf(t, tn.ID, bad.ID)
	require.NotEmpty(t, l)
	assert.Equal(t, "invalid", l[0].Result)
	assert.Contains(t, l[0].Reason, "psa_title")
	assert.Contains(t, l[0].Reason, "the round went on")
	for _, e := range f.errorRows(t, false) {
		assert.Equal(t, domain.OpSignIns, e.Operation, "no error of the users round: %s %s", e.Code, e.Message)
	}
}

// A page the database refuses for no one user's reason stops the round at
// once with a recorded error and its fix, not a retry loop.
func TestPageTheDatabaseRefusesIsARecordedErrorAtOnce(t *testing.T) {
	f := authorised(t, sim.Generate(sim.GenerateOptions{Seed: 45, Tenants: 1, UsersPerTenant: 5}), domain.DAP)
	f.discover(t)
	tn := f.sc.Tenants[0]
	_, err := f.st.Pool().Exec(context.Background(), `ALTER TABLE user_rounds ADD CONSTRAINT no_pages CHECK (pages < 1)`)
	require.NoError(t, err)

	var a *activities.Activities
	_, err = f.usersEnv(7).ExecuteActivity(a.SyncUsers, "acme", tn.ID, false)
	require.Error(t, err)
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "%v", err)
	assert.True(t, appErr.NonRetryable(), "retrying cannot fix it")
	var rows []store.IntegrationError
	for _, e := range f.errorRows(t, false) {
		if e.Operation == domain.OpUsers {
			rows = append(rows, e)
		}
	}
	require.Len(t, rows, 1)
	assert.Equal(t, microsoft.CodePageNotStored, rows[0].Code)
	assert.Equal(t, tn.ID, rows[0].TenantID)
	assert.Contains(t, rows[0].Message, "no_pages")
	assert.Contains(t, rows[0].Remediation, "cspsync sync --tenant")
}

// The sign-in pass sets aside the users the database refuses like a
// round's page does: each is logged invalid with PostgreSQL's reason, the
// others get their last sign-in, and the round ends without an error.
func TestSignInPassSetsAsideTheUsersTheDatabaseRefuses(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 46, Tenants: 1, UsersPerTenant: 10})
	tn := &sc.Tenants[0]
	tn.PremiumLicence = true
	recent, old := time.Date(2025, 5, 1, 9, 30, 0, 0, time.UTC), time.Date(2021, 6, 17, 16, 41, 33, 0, time.UTC)
	refused, kept := &tn.Users[2], &tn.Users[3]
	refused.LastSignIn, kept.LastSignIn = &recent, &old
	f := authorised(t, sc, domain.DAP)
	f.discover(t)
	ctx := context.Background()
	_, err := f.st.Pool().Exec(ctx, `ALTER TABLE psa_users ADD CONSTRAINT old_sign_ins CHECK (last_sign_in IS NULL OR last_sign_in < '2024-01-01')`)
	require.NoError(t, err)
	var a *activities.Activities
	_, err = f.usersEnv(7).ExecuteActivity(a.ImportLicences, "acme", tn.ID)
	require.NoError(t, err)

	res := f.syncUsers(t, tn.ID, false)
	assert.True(t, res.SignIns, "the pass ran and finished")
	got := f.psaUsers(t, tn.ID)
	assert.True(t, old.Equal(user(t, got, kept.ID).LastSignIn), "the others get theirs")
	assert.True(t, user(t, got, refused.ID).LastSignIn.IsZero(), "his stays as it was")
	l := f.logOf(t, tn.ID, refused.ID)
	require.NotEmpty(t, l)
	assert.Equal(t, "invalid", l[0].Result)
	assert.Contains(t, l[0].Reason, "old_sign_ins")
	for _, e := range f.errorRows(t, false) {
		assert.NotEqual(t, domain.OpUsers, e.Operation, "no error of the users round: %s %s", e.Code, e.Message)
	}
}
