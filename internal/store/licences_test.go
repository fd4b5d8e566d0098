package store_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/licensing"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/testenv"
)

const (
	skuSPB = "cbdc14ab-d96c-4c30-b9f4-6ada7cdc1d46"
	skuE3  = "6fd2c87f-b296-42f0-b197-1e91e994b900"
)

func TestSaveLicencesKeepsHistoryAndEndsWhatDisappears(t *testing.T) {
	st, _, _ := testenv.Store(t)
	ctx := context.Background()
	require.NoError(t, st.UpsertPartner(ctx, partner("acme")))
	_, err := st.SaveDiscoveryPage(ctx, "acme", "", "", []store.DiscoveredTenant{
		{TenantID: "11111111-0000-0000-0000-000000000001", Name: "Contoso", Domain: "contoso.example"}})
	require.NoError(t, err)
	cu, err := st.GetCustomerByTenant(ctx, "11111111-0000-0000-0000-000000000001")
	require.NoError(t, err)

	ls := []licensing.Licence{
		{SkuID: skuSPB, PartNumber: "SPB", ProductName: "Microsoft 365 Business Premium", Total: 40, Active: 40, Consumed: 38, CapabilityStatus: "Enabled"},
		{SkuID: skuE3, PartNumber: "ENTERPRISEPACK", ProductName: "Office 365 E3", Total: 5, Active: 5, Consumed: 5, CapabilityStatus: "Enabled"},
	}
	subs := []licensing.Subscription{{ID: "sub-1", SkuID: skuSPB, OfferID: "CFQ7TTC0LCHC:0002", OfferName: "Microsoft 365 Business Premium",
		Quantity: 40, Status: "active", BillingCycle: "monthly", TermDuration: "P1Y", AutoRenew: true}}
	c, err := st.SaveLicences(ctx, cu.ID, ls, subs)
	require.NoError(t, err)
	assert.Equal(t, store.LicenceCounts{Licences: 2, Subscriptions: 1, Events: 3}, c, "two licences and a subscription added")

	// The same answer again: nothing changes, nothing is recorded, nothing duplicates.
	c, err = st.SaveLicences(ctx, cu.ID, ls, subs)
	require.NoError(t, err)
	assert.Zero(t, c.Events)

	// 40 -> 45 seats, E3 gone, the subscription grows.
	ls2 := []licensing.Licence{ls[0]}
	ls2[0].Total, ls2[0].Active = 45, 45
	subs[0].Quantity = 45
	c, err = st.SaveLicences(ctx, cu.ID, ls2, subs)
	require.NoError(t, err)
	assert.Equal(t, 4, c.Events)

	all, err := st.ListLicences(ctx, "acme")
	require.NoError(t, err)
	require.Len(t, all, 1)
	require.Len(t, all[0].Licences, 1, "the ended licence is not current")
	assert.Equal(t, 45, all[0].Licences[0].Active)
	require.NotNil(t, all[0].ImportedAt)
	var rows, ended int
	require.NoError(t, st.Pool().QueryRow(ctx, `SELECT count(*), count(ended_at) FROM licences WHERE customer_id = $1`, cu.ID).Scan(&rows, &ended))
	assert.Equal(t, 2, rows, "an ended licence is kept")
	assert.Equal(t, 1, ended)

	evs, err := st.LicenceEvents(ctx, cu.ID)
	require.NoError(t, err)
	var fields []string
	for _, e := range evs[3:] {
		fields = append(fields, e.Field+" "+e.Old+"->"+e.New)
	}
	assert.ElementsMatch(t, []string{"total 40->45", "active 40->45", "licence active->ended", "quantity 40->45"}, fields)

	// E3 comes back: the same row, no longer ended.
	_, err = st.SaveLicences(ctx, cu.ID, ls, subs)
	require.NoError(t, err)
	require.NoError(t, st.Pool().QueryRow(ctx, `SELECT count(*), count(ended_at) FROM licences WHERE customer_id = $1`, cu.ID).Scan(&rows, &ended))
	assert.Equal(t, 2, rows)
	assert.Zero(t, ended)
}

func TestTopLevelsAndSSOAllowedTenants(t *testing.T) {
	st, _, _ := testenv.Store(t)
	ctx := context.Background()
	p := partner("acme")
	p.TopLevel, p.SSOAllowedTenants = "Managed", true
	require.NoError(t, st.UpsertPartner(ctx, p))
	_, err := st.SaveDiscoveryPage(ctx, "acme", "", "", []store.DiscoveredTenant{
		{TenantID: "11111111-0000-0000-0000-000000000001", Name: "Contoso"},
		{TenantID: "22222222-0000-0000-0000-000000000002", Name: "Fabrikam"}})
	require.NoError(t, err)
	manual, err := testenv.CreateCustomer(ctx, st, "Walk-in customer")
	require.NoError(t, err)

	cs, err := st.ListCustomers(ctx, "acme")
	require.NoError(t, err)
	for _, c := range cs {
		assert.Equal(t, "Managed", c.TopLevel, "imported customers join the partner's default top level")
	}
	require.NoError(t, st.SetCustomerTopLevel(ctx, cs[0].ID, "Key accounts"))
	require.NoError(t, st.SetCustomerTopLevel(ctx, manual, "Key accounts"))
	tls, err := st.ListTopLevels(ctx)
	require.NoError(t, err)
	assert.Equal(t, []store.TopLevel{{Name: "Key accounts", Customers: 2}, {Name: "Managed", Customers: 1}}, tls)
	assert.ErrorIs(t, st.SetCustomerTopLevel(ctx, 999999, "x"), store.ErrNotFound)

	sso, err := st.SSOAllowedTenants(ctx)
	require.NoError(t, err)
	require.Len(t, sso, 2, "the imported tenants, not the customer without one")
	assert.Equal(t, "Contoso", sso[0].Customer)

	p.SSOAllowedTenants = false
	require.NoError(t, st.UpsertPartner(ctx, p))
	sso, err = st.SSOAllowedTenants(ctx)
	require.NoError(t, err)
	assert.Empty(t, sso)
	got, err := st.GetPartner(ctx, "acme")
	require.NoError(t, err)
	assert.Equal(t, domain.FromSubscribedSkus, got.LicenceSource)
}
