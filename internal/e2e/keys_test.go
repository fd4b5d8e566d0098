package e2e

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/secrets"
	"github.com/cspsync/cspsync/internal/service"
	"github.com/cspsync/cspsync/internal/sim"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/testenv"
	"github.com/cspsync/cspsync/workflows"
)

// workerRefuses starts the worker with the stack's configuration and
// returns why it would not run.
func workerRefuses(t *testing.T, s *testenv.Stack) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := service.Run(ctx, s.Worker, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.Error(t, err, "the worker ran")
	return err
}

// syncedAfter waits until every tenant is Ready and tenant has synced after since.
func syncedAfter(t *testing.T, s *testenv.Stack, sc sim.Scenario, tenant string, since time.Time) map[string]store.Customer {
	t.Helper()
	return waitTenants(t, s, time.Minute, func(ts map[string]store.Customer) bool {
		return allIn(ts, domain.TenantReady, sc.Tenants...) && ts[tenant].LastSyncAt != nil && ts[tenant].LastSyncAt.After(since)
	})
}

func TestWorkerKeyIsCheckedRecoveredAfterLossAndRotated(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 33, Tenants: 3, UsersPerTenant: 1})
	s := testenv.NewStack(t, sc, sim.Options{})
	ctx := context.Background()
	tenant := sc.Tenants[0].ID
	original := s.Worker.EncryptionKey
	stop := s.StartWorker()
	authorise(t, s, connectOpts{})
	ts := syncedAfter(t, s, sc, tenant, time.Time{})
	stop()

	// Another key: the worker refuses to start, saying what is wrong and what to do.
	s.Worker.EncryptionKey = secrets.NewKeyText()
	err := workerRefuses(t, s)
	assert.ErrorIs(t, err, secrets.ErrWrongKey)
	assert.Contains(t, err.Error(), "the encryption key differs from the one the stored data was sealed with")
	assert.Contains(t, err.Error(), "cspsync connect --forget-unreadable")
	out, err := runCLI(t, s, "check", "--ca-file", s.Sim.CAFile())
	require.Error(t, err)
	assert.Contains(t, out, "✗ encryption key is the one the stored secrets were sealed with — the encryption key differs")
	out, err = runCLI(t, s, "status")
	require.NoError(t, err)
	assert.Contains(t, out, "the encryption key differs")
	_, err = runCLI(t, s, connectArgs(s, connectOpts{partner: "acme", pcSecret: sim.DefaultPCSecret,
		graphSecret: sim.DefaultGraphSecret, relationship: "DAP", heartbeat: time.Minute, tenantSyncInterval: time.Hour})...)
	require.ErrorIs(t, err, secrets.ErrWrongKey, "connect without --forget-unreadable drops nothing")
	assert.Contains(t, err.Error(), "--forget-unreadable")

	// With the right key it runs.
	s.Worker.EncryptionKey = original
	stop = s.StartWorker()
	_, err = runCLI(t, s, "tenants", "sync", tenant)
	require.NoError(t, err)
	ts = syncedAfter(t, s, sc, tenant, *ts[tenant].LastSyncAt)
	stop()

	// The key is lost: connect --forget-unreadable on a new key and a sign-in
	// bring the partner back, its tenants with it.
	s.Worker.EncryptionKey = secrets.NewKeyText()
	link := connect(t, s, connectOpts{partner: "acme", forgetUnreadable: true})
	var caches int
	require.NoError(t, s.Store.Pool().QueryRow(ctx, `SELECT count(*) FROM token_caches`).Scan(&caches))
	assert.Zero(t, caches, "the token caches sealed with the lost key are gone")
	stop = s.StartWorker()
	status, page, _ := signIn(t, s, link)
	require.Equal(t, http.StatusOK, status, page)
	waitPartner(t, s, "acme", time.Minute, func(st workflows.PartnerState) bool {
		return st.Auth == domain.AuthAuthorised && !st.TenantsPaused && st.Discoveries >= 2
	})
	ts = syncedAfter(t, s, sc, tenant, *ts[tenant].LastSyncAt)
	open := listErrors(t, s, "acme", false)
	assert.Empty(t, open, "the sign-in settled the forgotten secrets")

	// Rotation: a sign-in is pending (its PKCE verifier sealed) when every
	// secret is re-sealed under a new key, with the worker stopped.
	pending := connect(t, s, connectOpts{partner: "acme"})
	stop()
	lost := s.Worker.EncryptionKey
	keyFile := filepath.Join(t.TempDir(), "new.key")
	next := secrets.NewKeyText()
	require.NoError(t, os.WriteFile(keyFile, []byte(next+"\n"), 0o600))
	out, err = runCLI(t, s, "keys", "rotate", "--new-key-file", keyFile)
	require.NoError(t, err, out)
	assert.Contains(t, out, "2 partner client secrets")
	assert.Contains(t, out, "1 pending sign-ins")

	// The old key is refused now; the worker runs on the new key alone.
	err = workerRefuses(t, s)
	assert.ErrorIs(t, err, secrets.ErrWrongKey)
	s.Worker.EncryptionKey = next
	s.StartWorker()
	status, page, _ = signIn(t, s, pending)
	require.Equal(t, http.StatusOK, status, page)
	out, err = runCLI(t, s, "sync", "--partner", "acme", "--wait", "--timeout", "1m")
	require.NoError(t, err, out)
	assert.Contains(t, out, "Discovered 3 tenants")
	_, err = runCLI(t, s, "tenants", "sync", tenant)
	require.NoError(t, err)
	syncedAfter(t, s, sc, tenant, *ts[tenant].LastSyncAt)

	// Every sealed value opens with the new key and none with the old one.
	for key, opens := range map[string]bool{next: true, lost: false} {
		box, err := secrets.Load(key, "")
		require.NoError(t, err)
		st, err := store.Open(ctx, s.Worker.DatabaseURL, box)
		require.NoError(t, err)
		_, err = st.Credentials(ctx, "acme")
		assert.Equal(t, opens, err == nil, "partner secrets: %v", err)
		rows, err := st.Pool().Query(ctx, `SELECT cache_key FROM token_caches WHERE partner_id = 'acme'`)
		require.NoError(t, err)
		var cacheKeys []string
		for rows.Next() {
			var k string
			require.NoError(t, rows.Scan(&k))
			cacheKeys = append(cacheKeys, k)
		}
		require.NotEmpty(t, cacheKeys)
		for _, k := range cacheKeys {
			_, err := st.LoadTokenCache(ctx, "acme", k)
			assert.Equal(t, opens, err == nil, "token cache %s: %v", k, err)
		}
		st.Close()
	}
}

// A worker left running on the old key after `keys rotate` meets secrets it
// cannot open in every activity. Each records KeyMismatch for the partner,
// once per tenant that met it and never retried: the licence import and
// the users round once read the store directly and retried 8 and 20 times.
func TestKeyMismatchIsRecordedForThePartnerWithoutRetries(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 34, Tenants: 3, UsersPerTenant: 1})
	s := testenv.NewStack(t, sc, sim.Options{})
	s.StartWorker()
	authorise(t, s, connectOpts{})
	syncedAfter(t, s, sc, sc.Tenants[0].ID, time.Time{})

	keyFile := filepath.Join(t.TempDir(), "new.key")
	next := secrets.NewKeyText()
	require.NoError(t, os.WriteFile(keyFile, []byte(next+"\n"), 0o600))
	out, err := runCLI(t, s, "keys", "rotate", "--new-key-file", keyFile)
	require.NoError(t, err, out)
	s.Worker.EncryptionKey = next // the CLI's; the worker keeps the old one

	out, err = runCLI(t, s, "licences", "import", "--partner", "acme", "--wait", "--timeout", "1m")
	require.Error(t, err, out)
	assert.Contains(t, err.Error(), "3 of 3 tenants failed")
	assert.Contains(t, out, domain.CodeKeyMismatch)
	assert.Contains(t, out, "CSPSYNC_ENCRYPTION_KEY")
	waitTenants(t, s, time.Minute, func(ts map[string]store.Customer) bool {
		return allIn(ts, domain.TenantBlocked, sc.Tenants...)
	})

	open, err := s.Store.ListErrors(context.Background(), "acme", false)
	require.NoError(t, err)
	byOp := map[domain.Operation]store.IntegrationError{}
	for _, e := range open {
		if e.Operation == domain.OpSignIns {
			// The first round's sign-in pass, before the rotation: the
			// generated tenants have no Entra ID P1, which is recorded once.
			continue
		}
		assert.Equal(t, domain.CodeKeyMismatch, e.Code, "%+v", e)
		assert.Empty(t, e.TenantID, "the partner's key: a row for the partner, not one per tenant")
		byOp[e.Operation] = e
	}
	require.Len(t, byOp, 2, "one row per operation: %+v", open)
	for _, op := range []domain.Operation{domain.OpLicences, domain.OpSync} {
		assert.Equal(t, len(sc.Tenants), byOp[op].Occurrences, "%s: once per tenant, no retry", op)
	}
	for _, tn := range sc.Tenants {
		for _, activity := range []string{"ImportLicences", "SyncTenant"} {
			attempts := activityAttempts(t, s, workflows.TenantWorkflowID("acme", tn.ID), activity)
			require.NotEmpty(t, attempts)
			assert.Equal(t, []int32{1}, slices.Compact(attempts), "%s of %s: no retry", activity, tn.Name)
		}
	}
}
