package store_test

import (
	"context"
	"errors"
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
	manual, err := testenv.CreateCustomer(ctx, st, "Walk-in")
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
		LogRetention: 30 * 24 * time.Hour, MaxInactivateShare: 20}, u)
	want := u
	want.MatchRules, want.IgnoreAccountEnabled, want.LogRetention, want.MaxInactivateShare = []string{"name"}, true, 7*24*time.Hour, 35
	stored, err := st.ChangeUserSettings(ctx, "acme", func(s *store.UserSettings, _ []store.FieldMapping) error {
		s.MatchRules, s.IgnoreAccountEnabled, s.LogRetention, s.MaxInactivateShare = want.MatchRules, want.IgnoreAccountEnabled, want.LogRetention, want.MaxInactivateShare
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, want, stored)
	got, err := st.UserSettings(ctx, "acme")
	require.NoError(t, err)
	assert.Equal(t, want, got)

	// A refused change leaves the settings as they were.
	_, err = st.ChangeUserSettings(ctx, "acme", func(s *store.UserSettings, _ []store.FieldMapping) error {
		s.AutoSiteMappings = false
		return errors.New("refused")
	})
	require.EqualError(t, err, "refused")
	got, err = st.UserSettings(ctx, "acme")
	require.NoError(t, err)
	assert.Equal(t, want, got)

	accept := func(store.UserSettings, []store.FieldMapping) error { return nil }
	require.NoError(t, st.ChangeFieldMapping(ctx, "acme", store.FieldMapping{Field: "phone", Expression: "user.mobilePhone"}, accept))
	require.NoError(t, st.ChangeFieldMapping(ctx, "acme", store.FieldMapping{CustomerID: 7, Field: "phone", Expression: "user.businessPhones[0]"}, accept))
	fm, err := st.FieldMappings(ctx, "acme")
	require.NoError(t, err)
	assert.Len(t, fm, 2)
	// The check sees the mappings as they would be, and a refusal stores nothing.
	err = st.ChangeFieldMapping(ctx, "acme", store.FieldMapping{CustomerID: 7, Field: "phone"}, func(_ store.UserSettings, all []store.FieldMapping) error {
		assert.Equal(t, []store.FieldMapping{{Field: "phone", Expression: "user.mobilePhone"}}, all)
		return errors.New("refused")
	})
	require.EqualError(t, err, "refused")
	fm, err = st.FieldMappings(ctx, "acme")
	require.NoError(t, err)
	assert.Len(t, fm, 2)
	require.NoError(t, st.ChangeFieldMapping(ctx, "acme", store.FieldMapping{CustomerID: 7, Field: "phone"}, accept))
	fm, err = st.FieldMappings(ctx, "acme")
	require.NoError(t, err)
	assert.Equal(t, []store.FieldMapping{{Field: "phone", Expression: "user.mobilePhone"}}, fm)
}

// Two settings changed at once both land: each change reads the settings
// as the other left them.
func TestConcurrentUserSettingsChangesBothLand(t *testing.T) {
	st, _, _ := testenv.Store(t)
	ctx := context.Background()
	require.NoError(t, st.UpsertPartner(ctx, partner("acme")))
	inFirst, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := st.ChangeUserSettings(ctx, "acme", func(s *store.UserSettings, _ []store.FieldMapping) error {
			close(inFirst)
			<-release // the second change starts while this one holds the row
			s.IgnoreAccountEnabled = true
			return nil
		})
		done <- err
	}()
	<-inFirst
	second := make(chan error, 1)
	go func() {
		_, err := st.ChangeUserSettings(ctx, "acme", func(s *store.UserSettings, _ []store.FieldMapping) error {
			s.LogRetention = 2 * time.Hour
			return nil
		})
		second <- err
	}()
	close(release)
	require.NoError(t, <-done)
	require.NoError(t, <-second)
	got, err := st.UserSettings(ctx, "acme")
	require.NoError(t, err)
	assert.True(t, got.IgnoreAccountEnabled)
	assert.Equal(t, 2*time.Hour, got.LogRetention)
}
