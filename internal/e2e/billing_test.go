package e2e

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"strconv"
	"strings"
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

// currentLinks reads a tenant's licence links by Azure id: the SKUs each PSA user holds.
func currentLinks(t *testing.T, s *testenv.Stack, tenantID string) map[string][]string {
	t.Helper()
	ctx := context.Background()
	cu, err := s.Store.GetCustomerByTenant(ctx, tenantID)
	require.NoError(t, err)
	us, err := s.Store.ListUsers(ctx, cu.ID)
	require.NoError(t, err)
	links, err := s.Store.UserLicenceLinks(ctx, cu.ID, 0, false)
	require.NoError(t, err)
	azure := map[int64]string{}
	out := map[string][]string{}
	for _, u := range us {
		azure[u.ID] = u.AzureObjectID
		out[u.AzureObjectID] = []string{}
	}
	for _, l := range links {
		out[azure[l.PSAUserID]] = append(out[azure[l.PSAUserID]], l.SkuID)
	}
	for _, v := range out {
		sort.Strings(v)
	}
	return out
}

func sortedLower(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = strings.ToLower(id)
	}
	sort.Strings(out)
	return out
}

// Licence links equal the simulator's assignments for every user of 25 tenants; the
// billable-SKU list makes the users holding none of them service users, a licence removed in
// Microsoft turns its user into one in the next delta round with the rule named in the
// inbound log, and report billing, now and --at a time before the removal, equals a count
// made by hand from the simulator's users.
func TestLicenceLinksServiceUsersByLicenceListAndBillingReport(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 16, Tenants: 25, UsersPerTenant: 12})
	s := testenv.NewStack(t, sc, sim.Options{})
	s.StartWorker()
	authorise(t, s, connectOpts{})
	waitTenants(t, s, 2*time.Minute, func(ts map[string]store.Customer) bool { return allIn(ts, domain.TenantReady, sc.Tenants...) })

	out, err := runCLI(t, s, "sync", "--users", "--full", "--wait", "--timeout", "5m", "--partner", "acme")
	require.NoError(t, err, out)
	for _, tn := range sc.Tenants {
		links := currentLinks(t, s, tn.ID)
		truth := truthUsers(t, s, tn.ID)
		require.Len(t, links, len(truth), "tenant %s", tn.ID)
		for _, u := range truth {
			got, ok := links[u.ID]
			require.True(t, ok, "PSA user %s exists", u.UserPrincipalName)
			assert.Equal(t, sortedLower(u.AssignedSkuIDs), got, "licences of %s", u.UserPrincipalName)
		}
	}

	// The billable list: the SKU the first licensed user of the first tenant holds first.
	tn := sc.Tenants[0]
	truth := truthUsers(t, s, tn.ID)
	holder := find(truth, func(u sim.TenantUser) bool { return u.AccountEnabled && len(u.AssignedSkuIDs) > 0 })
	require.NotEmpty(t, holder.ID, "the scenario has a licensed user")
	billable := strings.ToLower(holder.AssignedSkuIDs[0])
	part := licensing.PartNumber(billable)
	require.NotEmpty(t, part)
	_, err = runCLI(t, s, "mappings", "settings", "--partner", "acme", "--billable-skus", "NO_SUCH_LICENCE")
	require.ErrorContains(t, err, "product reference", "an unknown licence is refused")
	out = mustCLI(t, s, "mappings", "settings", "--partner", "acme", "--billable-skus", part)
	assert.Contains(t, out, part)
	assert.Contains(t, syncUsers(t, s, tn.ID), "full users round", "a new rule reads every user again")

	holds := func(u sim.TenantUser) bool { return slices.Contains(sortedLower(u.AssignedSkuIDs), billable) }
	checkFlags := func() {
		t.Helper()
		var users []control.PSAUser
		cu, err := s.Store.GetCustomerByTenant(context.Background(), tn.ID)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal([]byte(mustCLI(t, s, "users", "list", "--customer", strconv.FormatInt(cu.ID, 10), "--json")), &users))
		byAzure := map[string]control.PSAUser{}
		for _, u := range users {
			byAzure[u.AzureObjectID] = u
		}
		for _, u := range truthUsers(t, s, tn.ID) {
			got := byAzure[u.ID]
			assert.Equal(t, !holds(u), got.ServiceUser, "service flag of %s", u.UserPrincipalName)
			if !holds(u) {
				assert.Equal(t, "licences", got.ServiceReason)
			}
		}
	}
	checkFlags()

	// hand counts billing from the simulator's users.
	hand := func() control.BillingCounts {
		var c control.BillingCounts
		for _, u := range truthUsers(t, s, tn.ID) {
			switch {
			case !u.AccountEnabled:
				c.Inactive++
			case holds(u):
				c.Billable++
			default:
				c.Service++
			}
		}
		return c
	}
	handSeats := func() map[string]int {
		n := map[string]int{}
		for _, u := range truthUsers(t, s, tn.ID) {
			for _, id := range sortedLower(u.AssignedSkuIDs) {
				n[id]++
			}
		}
		return n
	}
	report := func(args ...string) control.CustomerBilling {
		t.Helper()
		cu, err := s.Store.GetCustomerByTenant(context.Background(), tn.ID)
		require.NoError(t, err)
		var rep control.BillingReport
		out := mustCLI(t, s, append([]string{"report", "billing", "--customer", strconv.FormatInt(cu.ID, 10), "--json"}, args...)...)
		require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
		require.Len(t, rep.Customers, 1)
		return rep.Customers[0]
	}
	seatsOf := func(cb control.CustomerBilling) map[string]int {
		n := map[string]int{}
		for _, s := range cb.Skus {
			if s.Assigned > 0 {
				n[s.SkuID] = s.Assigned
			}
		}
		return n
	}
	before, beforeSeats := hand(), handSeats()
	rep := report()
	assert.Equal(t, before, rep.BillingCounts)
	assert.Equal(t, beforeSeats, seatsOf(rep))
	time.Sleep(10 * time.Millisecond) // the histories' times must fall on either side of `at`
	at := time.Now().UTC()
	time.Sleep(10 * time.Millisecond)

	// A licence removed in Microsoft: the next delta round makes him a service user.
	require.NoError(t, s.Sim.SetAssignedLicences(tn.ID, holder.ID, nil))
	assert.Contains(t, syncUsers(t, s, tn.ID), "delta users round")
	checkFlags()
	assert.Empty(t, currentLinks(t, s, tn.ID)[holder.ID], "his links ended")
	out = mustCLI(t, s, "log", "--tenant", tn.ID, "--user", holder.ID)
	assert.Contains(t, out, "rule licences")

	after := hand()
	assert.Equal(t, before.Billable-1, after.Billable)
	rep = report()
	assert.Equal(t, after, rep.BillingCounts)
	assert.Equal(t, handSeats(), seatsOf(rep))
	past := report("--at", at.Format(time.RFC3339Nano))
	assert.Equal(t, before, past.BillingCounts, "--at answers as it stood then")
	assert.Equal(t, beforeSeats, seatsOf(past))

	// licences report puts the users' count next to Partner Center's consumed units.
	var lr control.LicenceReport
	require.NoError(t, json.Unmarshal([]byte(mustCLI(t, s, "licences", "report", "--json", "--partner", "acme")), &lr))
	seen := false
	for _, c := range lr.Customers {
		if c.TenantID != tn.ID {
			continue
		}
		for _, l := range c.Licences {
			seen = true
			assert.Equal(t, handSeats()[strings.ToLower(l.SkuID)], l.UsersAssigned, "users holding %s", l.PartNumber)
			assert.Equal(t, l.UsersAssigned != l.ConsumedUnits, l.UsersDiffer)
		}
	}
	assert.True(t, seen)
}
