package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/testenv"
)

func TestSitesAndSiteMappings(t *testing.T) {
	st, _, _ := testenv.Store(t)
	ctx := context.Background()
	require.NoError(t, st.UpsertPartner(ctx, partner("acme")))
	manual, err := st.CreateCustomer(ctx, "Walk-in")
	require.NoError(t, err)
	_, err = st.SaveDiscoveryPage(ctx, "acme", "", "", []store.DiscoveredTenant{
		{TenantID: "11111111-0000-0000-0000-000000000001", Name: "Contoso"}})
	require.NoError(t, err)
	cu, err := st.GetCustomerByTenant(ctx, "11111111-0000-0000-0000-000000000001")
	require.NoError(t, err)

	// Every customer has a default site; the partner's auto mappings give an
	// imported customer one unfiltered mapping to it.
	sites, err := st.ListSites(ctx, cu.ID)
	require.NoError(t, err)
	require.Len(t, sites, 1)
	assert.True(t, sites[0].Default)
	ms, err := st.SiteMappings(ctx, cu.ID)
	require.NoError(t, err)
	assert.Equal(t, []store.SiteMapping{{Position: 1, Filter: "true", SiteID: sites[0].ID, Site: "Main"}}, ms)
	none, err := st.SiteMappings(ctx, manual)
	require.NoError(t, err)
	assert.Empty(t, none, "no tenant, no mapping")

	london, err := st.AddSite(ctx, cu.ID, "London")
	require.NoError(t, err)
	_, err = st.AddSite(ctx, cu.ID, "london")
	assert.ErrorContains(t, err, "already has a site")
	require.NoError(t, st.SetSiteMappings(ctx, cu.ID, []store.SiteMapping{
		{Filter: `user.city == "London"`, SiteID: london.ID}, {Filter: "true", SiteID: sites[0].ID}}))
	ms, err = st.SiteMappings(ctx, cu.ID)
	require.NoError(t, err)
	require.Len(t, ms, 2)
	assert.Equal(t, "London", ms[0].Site)
	assert.Equal(t, 2, ms[1].Position)
	other, err := st.ListSites(ctx, manual)
	require.NoError(t, err)
	assert.ErrorContains(t, st.SetSiteMappings(ctx, cu.ID, []store.SiteMapping{{Filter: "true", SiteID: other[0].ID}}), "is not a site of customer")

	// Generating gives a mapping to tenants without one, once.
	require.NoError(t, st.SetSiteMappings(ctx, cu.ID, nil))
	n, err := st.GenerateSiteMappings(ctx, "acme")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	n, err = st.GenerateSiteMappings(ctx, "acme")
	require.NoError(t, err)
	assert.Zero(t, n)
}

func TestUserSettingsAndFieldMappings(t *testing.T) {
	st, _, _ := testenv.Store(t)
	ctx := context.Background()
	require.NoError(t, st.UpsertPartner(ctx, partner("acme")))
	u, err := st.UserSettings(ctx, "acme")
	require.NoError(t, err)
	assert.Equal(t, store.UserSettings{MatchRules: []string{"email", "name", "network_login"}, AutoSiteMappings: true,
		LogRetention: 30 * 24 * time.Hour}, u)
	u.MatchRules, u.IgnoreAccountEnabled, u.LogRetention = []string{"name"}, true, 7*24*time.Hour
	require.NoError(t, st.SetUserSettings(ctx, "acme", u))
	got, err := st.UserSettings(ctx, "acme")
	require.NoError(t, err)
	assert.Equal(t, u, got)

	require.NoError(t, st.SetFieldMapping(ctx, "acme", store.FieldMapping{Field: "phone", Expression: "user.mobilePhone"}))
	require.NoError(t, st.SetFieldMapping(ctx, "acme", store.FieldMapping{CustomerID: 7, Field: "phone", Expression: "user.businessPhones[0]"}))
	fm, err := st.FieldMappings(ctx, "acme")
	require.NoError(t, err)
	assert.Len(t, fm, 2)
	require.NoError(t, st.SetFieldMapping(ctx, "acme", store.FieldMapping{CustomerID: 7, Field: "phone"}))
	fm, err = st.FieldMappings(ctx, "acme")
	require.NoError(t, err)
	assert.Equal(t, []store.FieldMapping{{Field: "phone", Expression: "user.mobilePhone"}}, fm)
}
