package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/control"
	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/licensing"
	"github.com/cspsync/cspsync/internal/sim"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/testenv"
)

// licenceRows is one customer's stored licences and subscriptions, by id.
type licenceRows struct {
	licences map[string]licensing.Licence
	subs     map[string]licensing.Subscription
}

func storedLicences(t *testing.T, s *testenv.Stack) map[string]licenceRows {
	t.Helper()
	all, err := s.Store.ListLicences(context.Background(), "acme")
	require.NoError(t, err)
	out := map[string]licenceRows{}
	for _, cl := range all {
		r := licenceRows{licences: map[string]licensing.Licence{}, subs: map[string]licensing.Subscription{}}
		for _, l := range cl.Licences {
			r.licences[l.SkuID] = l
		}
		for _, sub := range cl.Subscriptions {
			r.subs[sub.ID] = sub
		}
		out[cl.Customer.TenantID] = r
	}
	return out
}

// assertLicencesEqualTruth compares every customer's current licence rows
// with what the simulator holds, unit for unit; with the subscriptions
// source, only SKUs the partner sells count, and each subscription is
// attached to its SKU.
func assertLicencesEqualTruth(t *testing.T, s *testenv.Stack, subscriptions bool) {
	t.Helper()
	stored := storedLicences(t, s)
	for _, tn := range s.Scenario.Tenants {
		skus, subs, err := s.Sim.LicenceTruth(tn.ID)
		require.NoError(t, err)
		got := stored[tn.ID]
		want := map[string]sim.SkuTruth{}
		for _, k := range skus {
			if !subscriptions || len(k.PartnerSubscriptions) > 0 {
				want[k.SkuID] = k
			}
		}
		require.Len(t, got.licences, len(want), "tenant %s (%s)", tn.Name, tn.ID)
		for id, k := range want {
			l, ok := got.licences[id]
			require.True(t, ok, "tenant %s: SKU %s (%s) missing", tn.Name, k.PartNumber, id)
			assert.Equal(t, sim.SkuTruth{SkuID: k.SkuID, PartNumber: k.PartNumber, Active: k.Active, Consumed: k.Consumed,
				Suspended: k.Suspended, Warning: k.Warning, Total: k.Total, CapabilityStatus: k.CapabilityStatus},
				sim.SkuTruth{SkuID: l.SkuID, PartNumber: l.PartNumber, Active: l.Active, Consumed: l.Consumed,
					Suspended: l.Suspended, Warning: l.Warning, Total: l.Total, CapabilityStatus: l.CapabilityStatus}, "tenant %s", tn.Name)
			assert.Equal(t, licensing.ProductName(k.SkuID, k.PartNumber), l.ProductName)
			assert.NotEqual(t, k.PartNumber, l.ProductName, "every simulated SKU has a friendly name")
		}
		if !subscriptions {
			assert.Empty(t, got.subs)
			continue
		}
		require.Len(t, got.subs, len(subs), "tenant %s", tn.Name)
		for _, sub := range subs {
			g := got.subs[sub.ID]
			assert.Equal(t, []any{sub.SkuID, sub.Quantity, sub.Status, sub.OfferID, sub.BillingCycle, sub.TermDuration, sub.AutoRenewEnabled, sub.IsTrial},
				[]any{g.SkuID, g.Quantity, g.Status, g.OfferID, g.BillingCycle, g.TermDuration, g.AutoRenew, g.Trial}, "subscription %s of %s", sub.ID, tn.Name)
		}
	}
}

func importLicences(t *testing.T, s *testenv.Stack, args ...string) string {
	t.Helper()
	out, err := runCLI(t, s, append([]string{"licences", "import", "--partner", "acme", "--wait", "--timeout", "2m"}, args...)...)
	require.NoError(t, err, out)
	return out
}

func TestLicencesOfBothImportTypesEqualTheSimulator(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 8, Tenants: 8, GDAP: 2, UsersPerTenant: 6})
	s := testenv.NewStack(t, sc, sim.Options{})
	s.StartWorker()
	authorise(t, s, connectOpts{})

	// Each tenant's first cycle imports its licences, GDAP tenants without
	// consent included (Partner Center answers for the partner).
	out := importLicences(t, s)
	assert.Contains(t, out, "Imported the licences of 8 tenants")
	assertLicencesEqualTruth(t, s, false)

	// The report's figures are the simulator's.
	out, err := runCLI(t, s, "licences", "report", "--json")
	require.NoError(t, err, out)
	var rep control.LicenceReport
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	var want licensing.Seats
	for _, tn := range sc.Tenants {
		skus, _, err := s.Sim.LicenceTruth(tn.ID)
		require.NoError(t, err)
		for _, k := range skus {
			want.Add(licensing.SeatsOf(licensing.Licence{Active: k.Active, Consumed: k.Consumed, Suspended: k.Suspended, Warning: k.Warning}))
		}
	}
	assert.Equal(t, want, licensing.Seats(rep.Total))
	assert.Positive(t, rep.Total.Unused)
	require.Len(t, rep.Customers, 8)
	out, err = runCLI(t, s, "licences", "report")
	require.NoError(t, err, out)
	assert.Contains(t, out, "TOTAL")
	assert.Contains(t, out, "Microsoft 365")

	// Switch the partner to its own subscriptions: SKUs it does not sell end.
	connect(t, s, connectOpts{partner: "acme", licenceSource: "subscriptions"})
	importLicences(t, s)
	assertLicencesEqualTruth(t, s, true)

	out, err = runCLI(t, s, "status", "--json")
	require.NoError(t, err, out)
	assert.Contains(t, out, `"licence_source": "subscriptions"`)
}

func TestLicenceChangesAreImportedWithTheirHistory(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 11, Tenants: 3, UsersPerTenant: 6})
	s := testenv.NewStack(t, sc, sim.Options{})
	s.StartWorker()
	authorise(t, s, connectOpts{licenceSource: "subscriptions"})
	importLicences(t, s)
	assertLicencesEqualTruth(t, s, true)

	// Move the truth: one quantity up, one subscription suspended, one removed.
	tn := sc.Tenants[0]
	_, subs, err := s.Sim.LicenceTruth(tn.ID)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(subs), 1)
	grown := subs[0]
	_, err = s.Sim.SetSubscriptionQuantity(tn.ID, grown.ID, grown.Quantity+5)
	require.NoError(t, err)
	added, err := s.Sim.AddSubscription(tn.ID, sim.Subscription{SkuID: grown.SkuID, Quantity: 2, BillingCycle: "monthly", TermDuration: "P1M"})
	require.NoError(t, err)
	importLicences(t, s, "--tenant", tn.ID)
	_, err = s.Sim.SetSubscriptionStatus(tn.ID, added.ID, "suspended")
	require.NoError(t, err)
	other := sc.Tenants[1]
	_, otherSubs, err := s.Sim.LicenceTruth(other.ID)
	require.NoError(t, err)
	removed := otherSubs[len(otherSubs)-1]
	require.NoError(t, s.Sim.RemoveSubscription(other.ID, removed.ID))

	out := importLicences(t, s, "--tenant", tn.ID)
	assert.Contains(t, out, "Imported the licences of 1 tenants")
	importLicences(t, s, "--tenant", other.ID)
	assertLicencesEqualTruth(t, s, true)

	ctx := context.Background()
	cu, err := s.Store.GetCustomerByTenant(ctx, tn.ID)
	require.NoError(t, err)
	evs, err := s.Store.LicenceEvents(ctx, cu.ID)
	require.NoError(t, err)
	assert.Contains(t, changes(evs), "quantity "+itoa(grown.Quantity)+"->"+itoa(grown.Quantity+5)+" "+grown.ID)
	assert.Contains(t, changes(evs), "subscription ->added "+added.ID)
	assert.Contains(t, changes(evs), "status active->suspended "+added.ID)

	ocu, err := s.Store.GetCustomerByTenant(ctx, other.ID)
	require.NoError(t, err)
	oevs, err := s.Store.LicenceEvents(ctx, ocu.ID)
	require.NoError(t, err)
	assert.Contains(t, changes(oevs), "subscription "+removed.Status+"->ended "+removed.ID)
	var ended int
	require.NoError(t, s.Store.Pool().QueryRow(ctx, `SELECT count(*) FROM licence_subscriptions
		WHERE customer_id = $1 AND subscription_id = $2 AND ended_at IS NOT NULL`, ocu.ID, removed.ID).Scan(&ended))
	assert.Equal(t, 1, ended, "a removed subscription is kept, marked ended")

	out, err = runCLI(t, s, "licences", "history", itoa(int(cu.ID)))
	require.NoError(t, err, out)
	assert.Contains(t, out, "quantity")
}

func changes(evs []store.LicenceEvent) string {
	var b strings.Builder
	for _, e := range evs {
		b.WriteString(e.Field + " " + e.Old + "->" + e.New + " " + e.SubscriptionID + "\n")
	}
	return b.String()
}

func TestLicenceRefusalsGiveTheirFixWithoutRetryLoop(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 12, Tenants: 4, GDAP: 2, UsersPerTenant: 3})
	s := testenv.NewStack(t, sc, sim.Options{})
	s.StartWorker()
	authorise(t, s, connectOpts{licenceSource: "subscriptions"})
	importLicences(t, s)
	before := storedLicences(t, s)

	// A GDAP relationship without the roles licence reads need: that tenant
	// fails with the roles named, the others carry on.
	var gdap sim.Tenant
	for _, tn := range sc.Tenants {
		if tn.Relationship == sim.RelationshipGDAP {
			gdap = tn
		}
	}
	require.NoError(t, s.Sim.SetMissingGDAPRole(gdap.ID, true))
	out, err := runCLI(t, s, "licences", "import", "--partner", "acme", "--wait", "--timeout", "1m")
	require.Error(t, err, out)
	assert.Contains(t, err.Error(), "1 of 4 tenants failed")
	assert.Contains(t, out, "License Administrator")
	errs := licenceErrors(t, s)
	require.Len(t, errs, 1)
	assert.Equal(t, gdap.ID, errs[0].TenantID)
	assert.Equal(t, "PartnerCenter900150", errs[0].Code)
	assert.Equal(t, before[gdap.ID].licences, storedLicences(t, s)[gdap.ID].licences, "its licences stay as they were")
	require.NoError(t, s.Sim.SetMissingGDAPRole(gdap.ID, false))
	importLicences(t, s)
	assert.Empty(t, licenceErrors(t, s), "a successful import resolves the tenant's error")

	// No membership for the subscriptions API: one partner-level error that
	// says to switch, Partner Center asked at most once per tenant, and not
	// again once refused.
	require.NoError(t, s.Sim.SetMembershipRefused(true))
	pcBefore := s.Sim.Stats().PartnerCenterRequests
	out, err = runCLI(t, s, "licences", "import", "--partner", "acme", "--wait", "--timeout", "1m")
	require.Error(t, err, out)
	assert.Contains(t, out, "--licence-source subscribed-skus")
	firstRound := s.Sim.Stats().PartnerCenterRequests - pcBefore
	assert.LessOrEqual(t, firstRound, 2*len(sc.Tenants), "subscribed SKUs and subscriptions, once per tenant at most")
	errs = licenceErrors(t, s)
	require.Len(t, errs, 1)
	assert.Empty(t, errs[0].TenantID, "one row for the partner")
	assert.Equal(t, "PartnerCenter800039", errs[0].Code)
	assert.Contains(t, errs[0].Remediation, "subscribed-skus")

	pcBefore = s.Sim.Stats().PartnerCenterRequests
	_, err = runCLI(t, s, "licences", "import", "--partner", "acme", "--wait", "--timeout", "1m")
	require.Error(t, err)
	assert.Zero(t, s.Sim.Stats().PartnerCenterRequests-pcBefore, "refused once, not asked again")
	assert.Equal(t, before, storedLicences(t, s), "every tenant's licences are intact")

	// Switching the source is the fix.
	connect(t, s, connectOpts{partner: "acme", licenceSource: "subscribed-skus"})
	importLicences(t, s)
	assertLicencesEqualTruth(t, s, false)
}

// licenceErrors are the open errors of licence imports.
func licenceErrors(t *testing.T, s *testenv.Stack) []store.IntegrationError {
	t.Helper()
	all, err := s.Store.ListErrors(context.Background(), "acme", false)
	require.NoError(t, err)
	var out []store.IntegrationError
	for _, e := range all {
		if e.Operation == domain.OpLicences {
			out = append(out, e)
		}
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestWorkerKilledDuringLicenceImportOf500TenantsLeavesEveryCustomerComplete(t *testing.T) {
	const tenants = 500
	bin := buildWorker(t)
	sc := sim.Generate(sim.GenerateOptions{Seed: 500, Tenants: tenants, UsersPerTenant: 2})
	s := testenv.NewStack(t, sc, sim.Options{})
	ctx := context.Background()
	imported := func() int {
		var n int
		require.NoError(t, s.Store.Pool().QueryRow(ctx, `SELECT count(*) FROM customers WHERE licences_at IS NOT NULL`).Scan(&n))
		return n
	}

	// Discovery starts 500 tenant workflows; each imports its licences first.
	worker := startWorkerProcess(t, s, bin)
	status, page, _ := signIn(t, s, connect(t, s, connectOpts{partner: "acme"}))
	require.Equal(t, http.StatusOK, status, page)
	require.Eventually(t, func() bool { return imported() >= 50 }, 3*time.Minute, 5*time.Millisecond)
	require.NoError(t, worker.Process.Signal(syscall.SIGKILL))
	_, _ = worker.Process.Wait()
	midway := imported()
	require.Less(t, midway, tenants, "the worker must die before every import finished")

	startWorkerProcess(t, s, bin)
	require.Eventually(t, func() bool { return imported() == tenants }, 5*time.Minute, 100*time.Millisecond)
	assertLicencesEqualTruth(t, s, false)
	var dup int
	require.NoError(t, s.Store.Pool().QueryRow(ctx, `SELECT count(*) FROM (SELECT customer_id, sku_id FROM licence_events
		WHERE field = 'licence' AND new_value = 'added' GROUP BY 1, 2 HAVING count(*) > 1) d`).Scan(&dup))
	assert.Zero(t, dup, "no licence was added twice")
	t.Logf("killed with %d of %d customers' licences imported", midway, tenants)
}
