package control_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/control"
	"github.com/cspsync/cspsync/internal/service"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/testenv"
)

const tenant = "11111111-0000-0000-0000-000000000001"

// open gives a Control on a migrated database with one partner and one
// GDAP tenant; Temporal is not needed by what these tests call.
func open(t *testing.T) (*control.Control, *store.Store) {
	t.Helper()
	st, url, key := testenv.Store(t)
	ctx := context.Background()
	require.NoError(t, st.UpsertPartner(ctx, store.PartnerConfig{ID: "acme", DisplayName: "Acme", PartnerTenantID: "acme.example",
		PCClientID: "pc", PCClientSecret: "pc-secret", GraphClientID: "graph", GraphClientSecret: "graph-secret",
		AuthorityURL: "https://login.example", PartnerCenterURL: "https://pc.example", GraphURL: "https://graph.example",
		DefaultRelationship: "GDAP"}))
	_, err := st.SaveDiscoveryPage(ctx, "acme", "", "", []store.DiscoveredTenant{{TenantID: tenant, Name: "Contoso"}})
	require.NoError(t, err)
	ctl := service.Open(control.Config{DatabaseURL: url, EncryptionKey: key, TemporalAddress: "127.0.0.1:1"})
	t.Cleanup(ctl.Close)
	return ctl, st
}

// A consent callback that cannot be used names a new consent link as the
// fix: the tenant's administrator has nothing to do with `cspsync connect`.
func TestConsentCallbackErrorsNameTheConsentLink(t *testing.T) {
	ctl, st := open(t)
	ctx := context.Background()

	_, err := ctl.CompleteConsent(ctx, control.Callback{State: "forged", AdminConsent: "True", Tenant: tenant})
	require.ErrorIs(t, err, control.ErrBadCallback)
	assert.Contains(t, err.Error(), "unknown state")
	assert.Contains(t, err.Error(), "new consent link")
	assert.NotContains(t, err.Error(), "cspsync connect")

	_, err = st.CreateAuthRequest(ctx, store.AuthRequest{State: "old", PartnerID: "acme", Kind: "consent",
		TenantID: tenant, RedirectURI: "https://cspsync.example/consent/callback", TTL: -time.Second})
	require.NoError(t, err)
	_, err = ctl.CompleteConsent(ctx, control.Callback{State: "old", AdminConsent: "True", Tenant: tenant})
	require.ErrorIs(t, err, control.ErrBadCallback)
	assert.Contains(t, err.Error(), "expired")
	assert.Contains(t, err.Error(), "new consent link")
	assert.NotContains(t, err.Error(), "cspsync connect")

	// The administrator cancelled at Microsoft: recorded, with the consent link as the fix.
	_, err = st.CreateAuthRequest(ctx, store.AuthRequest{State: "s1", PartnerID: "acme", Kind: "consent",
		TenantID: tenant, RedirectURI: "https://cspsync.example/consent/callback", TTL: time.Hour})
	require.NoError(t, err)
	_, err = ctl.CompleteConsent(ctx, control.Callback{State: "s1", Error: "access_denied",
		ErrorDescription: "The user cancelled the consent."})
	var refused *control.Refused
	require.True(t, errors.As(err, &refused), "%v", err)
	assert.Contains(t, refused.Remediation, "new consent link")
	assert.Contains(t, refused.Remediation, "cspsync consent url")
	errs, err := st.ListErrors(ctx, "acme", false)
	require.NoError(t, err)
	require.Len(t, errs, 1)
	assert.Equal(t, tenant, errs[0].TenantID)
	assert.Contains(t, errs[0].Remediation, "new consent link")

	// Declined (AADSTS65004): the link was used up, so again a new one.
	_, err = st.CreateAuthRequest(ctx, store.AuthRequest{State: "s2", PartnerID: "acme", Kind: "consent",
		TenantID: tenant, RedirectURI: "https://cspsync.example/consent/callback", TTL: time.Hour})
	require.NoError(t, err)
	_, err = ctl.CompleteConsent(ctx, control.Callback{State: "s2", Error: "consent_required",
		ErrorDescription: "AADSTS65004: User declined to consent to access the app."})
	require.True(t, errors.As(err, &refused), "%v", err)
	assert.Equal(t, "AADSTS65004", refused.Code)
	assert.Contains(t, refused.Remediation, "new consent link")
}
