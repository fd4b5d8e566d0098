package activities_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/cspsync/cspsync/activities"
	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/testenv"
)

// A secret the key cannot open stops the activity at once with the key's
// fix, recorded once for the partner: no retries, no "check the network".
func TestUnopenableSecretIsKeyMismatchWithoutRetries(t *testing.T) {
	ctx := context.Background()
	st, _, _ := testenv.Store(t)
	require.NoError(t, st.UpsertPartner(ctx, store.PartnerConfig{ID: "acme", DisplayName: "Acme", PartnerTenantID: "acme.example",
		PCClientID: "pc", PCClientSecret: "pc-secret", GraphClientID: "graph", GraphClientSecret: "graph-secret",
		AuthorityURL: "https://login.example", PartnerCenterURL: "https://pc.example", GraphURL: "https://graph.example",
		DefaultRelationship: domain.DAP}))
	// A secret moved to another column is bound to where it was sealed and no longer opens.
	_, err := st.Pool().Exec(ctx, `UPDATE partners SET pc_client_secret = graph_client_secret`)
	require.NoError(t, err)

	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(&activities.Activities{Store: st})
	var a *activities.Activities
	for _, run := range []func() error{
		func() error { _, err := env.ExecuteActivity(a.DiscoverTenants, "acme"); return err },
		func() error {
			_, err := env.ExecuteActivity(a.SyncTenant, "acme", "11111111-0000-0000-0000-000000000001")
			return err
		},
		// Licences and users once read the store directly: a retryable
		// error, retried 8 and 20 times, and nothing recorded.
		func() error {
			_, err := env.ExecuteActivity(a.ImportLicences, "acme", "11111111-0000-0000-0000-000000000001")
			return err
		},
		func() error {
			_, err := env.ExecuteActivity(a.SyncUsers, "acme", "11111111-0000-0000-0000-000000000001", false)
			return err
		},
	} {
		err := run()
		var app *temporal.ApplicationError
		require.True(t, errors.As(err, &app), "%v", err)
		assert.True(t, app.NonRetryable())
		assert.Equal(t, string(domain.NeedsFix), app.Type())
	}
	errs, err := st.ListErrors(ctx, "acme", false)
	require.NoError(t, err)
	require.Len(t, errs, 4, "one row per operation, each for the partner")
	for _, e := range errs {
		assert.Equal(t, domain.CodeKeyMismatch, e.Code)
		assert.Empty(t, e.TenantID)
		assert.Contains(t, e.Remediation, "CSPSYNC_ENCRYPTION_KEY")
	}
}
