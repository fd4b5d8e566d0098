package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/control"
	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/sim"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/testenv"
)

// writeBack is a synced tenant ready for licence changes: users and licences imported.
type writeBack struct {
	s        *testenv.Stack
	tn       sim.Tenant
	customer string // its PSA customer id
}

func newWriteBack(t *testing.T, s *testenv.Stack) writeBack {
	t.Helper()
	tn := s.Scenario.Tenants[0]
	waitTenants(t, s, 2*time.Minute, func(ts map[string]store.Customer) bool { return allIn(ts, domain.TenantReady, s.Scenario.Tenants...) })
	syncUsers(t, s, tn.ID, "--full")
	importLicences(t, s)
	cu, err := s.Store.GetCustomerByTenant(context.Background(), tn.ID)
	require.NoError(t, err)
	return writeBack{s: s, tn: tn, customer: itoa(int(cu.ID))}
}

// pick returns a SKU of the tenant with a free seat and an enabled user with a usage
// location who does not hold it, skipping the users in skip.
func (w writeBack) pick(t *testing.T, skip ...string) (sim.SkuTruth, sim.TenantUser) {
	t.Helper()
	skus, _, err := w.s.Sim.LicenceTruth(w.tn.ID)
	require.NoError(t, err)
	for _, k := range skus {
		if k.Active-k.Consumed < 1 {
			continue
		}
		for _, u := range truthUsers(t, w.s, w.tn.ID) {
			if u.AccountEnabled && u.UsageLocation != "" && u.UserType != "Guest" && !slices.Contains(u.AssignedSkuIDs, k.SkuID) && !slices.Contains(skip, u.ID) {
				return k, u
			}
		}
	}
	t.Fatal("scenario: no free seat and user to license")
	return sim.SkuTruth{}, sim.TenantUser{}
}

// truth is what Microsoft holds: whether the user holds the SKU, and its consumed units.
func (w writeBack) truth(t *testing.T, userID, skuID string) (int, int) {
	t.Helper()
	held := 0
	for _, u := range truthUsers(t, w.s, w.tn.ID) {
		if u.ID == userID {
			for _, id := range u.AssignedSkuIDs {
				if strings.EqualFold(id, skuID) {
					held++
				}
			}
		}
	}
	skus, _, err := w.s.Sim.LicenceTruth(w.tn.ID)
	require.NoError(t, err)
	for _, k := range skus {
		if strings.EqualFold(k.SkuID, skuID) {
			return held, k.Consumed
		}
	}
	return held, -1
}

// psa is what PostgreSQL holds: the user's current links to the SKU and the licence's
// consumed units.
func (w writeBack) psa(t *testing.T, userID, skuID string) (int, int) {
	t.Helper()
	var links, consumed int
	require.NoError(t, w.s.Store.Pool().QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM user_licences l JOIN psa_users u ON u.id = l.psa_user_id
			WHERE u.azure_object_id = $1::uuid AND l.sku_id = $2::uuid AND l.removed_at IS NULL),
		(SELECT consumed_units FROM licences l JOIN customers c ON c.id = l.customer_id
			WHERE c.azure_tenant_id = $3::uuid AND l.sku_id = $2::uuid)`, userID, skuID, w.tn.ID).Scan(&links, &consumed))
	return links, consumed
}

// agree asserts that both sides hold the same: held (0 or 1) links and Microsoft's count.
func (w writeBack) agree(t *testing.T, userID, skuID string, held int) {
	t.Helper()
	msHeld, msConsumed := w.truth(t, userID, skuID)
	links, consumed := w.psa(t, userID, skuID)
	assert.Equal(t, held, msHeld, "Microsoft's assignments of the SKU to the user")
	assert.Equal(t, held, links, "the PSA's current links of the user to the SKU")
	assert.Equal(t, msConsumed, consumed, "the PSA's consumed units equal Microsoft's")
}

func (w writeBack) changes(t *testing.T) []control.LicenceChange {
	t.Helper()
	out := mustCLI(t, w.s, "licences", "changes", "--customer", w.customer, "--json")
	var chs []control.LicenceChange
	require.NoError(t, json.Unmarshal([]byte(out), &chs), out)
	return chs
}

func TestLicenceAssignAndRemoveAreVerifiedOnBothSides(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 16, Tenants: 1, UsersPerTenant: 12})
	s := testenv.NewStack(t, sc, sim.Options{})
	s.StartWorker()
	authorise(t, s, connectOpts{})
	w := newWriteBack(t, s)
	sku, user := w.pick(t)

	out, err := runCLI(t, s, "licences", "assign", "--ca-file", s.Sim.CAFile(), "--user", user.ID, "--sku", sku.PartNumber)
	require.Error(t, err, "management is off by default: %s", out)
	assert.Contains(t, err.Error(), "licences manage --customer")

	mustCLI(t, s, "licences", "manage", "--customer", w.customer, "on")
	_, consumedBefore := w.truth(t, user.ID, sku.SkuID)
	out = mustCLI(t, s, "licences", "assign", "--ca-file", s.Sim.CAFile(), "--user", user.ID, "--sku", sku.PartNumber)
	assert.Contains(t, out, "done")
	w.agree(t, user.ID, sku.SkuID, 1)
	_, consumed := w.truth(t, user.ID, sku.SkuID)
	assert.Equal(t, consumedBefore+1, consumed)

	out = mustCLI(t, s, "licences", "remove", "--ca-file", s.Sim.CAFile(), "--user", user.ID, "--sku", sku.SkuID)
	assert.Contains(t, out, "done")
	w.agree(t, user.ID, sku.SkuID, 0)
	_, consumed = w.truth(t, user.ID, sku.SkuID)
	assert.Equal(t, consumedBefore, consumed)

	chs := w.changes(t)
	require.Len(t, chs, 2)
	for _, ch := range chs {
		assert.Equal(t, "done", ch.State, "%+v", ch)
		assert.True(t, ch.Applied)
		assert.True(t, strings.HasPrefix(ch.RequestedBy, "cli"), ch.RequestedBy)
		assert.True(t, strings.HasPrefix(ch.WorkflowID, "licence-change/acme/"+user.ID+"/"), ch.WorkflowID)
	}
	assert.Equal(t, []string{"remove", "assign"}, []string{chs[0].Action, chs[1].Action})
	var events int
	require.NoError(t, s.Store.Pool().QueryRow(context.Background(),
		`SELECT count(*) FROM licence_events WHERE field = 'licence_change' AND new_value = 'done'`).Scan(&events))
	assert.Equal(t, 2, events)
}

func TestLicenceChangeRefusalsLeaveBothSidesAgreeing(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 16, Tenants: 1, UsersPerTenant: 12})
	s := testenv.NewStack(t, sc, sim.Options{})
	s.StartWorker()
	authorise(t, s, connectOpts{})
	w := newWriteBack(t, s)
	sku, user := w.pick(t)
	refused := func(want string, args ...string) {
		t.Helper()
		if args[1] == "assign" || args[1] == "remove" {
			args = append(args, "--ca-file", s.Sim.CAFile())
		}
		out, err := runCLI(t, s, args...)
		require.Error(t, err, out)
		assert.Contains(t, err.Error(), want)
	}

	// Another integration manages the customer's licences: cspsync may not.
	mustCLI(t, s, "licences", "manage", "--customer", w.customer, "--elsewhere", "Halo licence sync")
	refused("managed by Halo licence sync", "licences", "manage", "--customer", w.customer, "on")
	refused("managed by Halo licence sync", "licences", "assign", "--user", user.ID, "--sku", sku.PartNumber)
	mustCLI(t, s, "licences", "manage", "--customer", w.customer, "off")
	mustCLI(t, s, "licences", "manage", "--customer", w.customer, "on")

	// Refused at once by the validator, nothing done.
	refused("holds no licence", "licences", "assign", "--user", user.ID, "--sku", "NO_SUCH_SKU")
	refused("nothing to remove", "licences", "remove", "--user", user.ID, "--sku", sku.PartNumber)
	require.NoError(t, s.Sim.UpdateUser(w.tn.ID, user.ID, sim.UserPatch{UsageLocation: ptr("")}))
	refused("usage location", "licences", "assign", "--user", user.ID, "--sku", sku.PartNumber)
	require.NoError(t, s.Sim.UpdateUser(w.tn.ID, user.ID, sim.UserPatch{UsageLocation: ptr("GB")}))
	for _, u := range truthUsers(t, s, w.tn.ID) {
		if !u.AccountEnabled && u.UserType != "Guest" {
			refused("inactive", "licences", "assign", "--user", u.ID, "--sku", sku.PartNumber)
			break
		}
	}
	w.agree(t, user.ID, sku.SkuID, 0)
	gone := w.pickOther(t, sku, user.ID)
	require.NoError(t, s.Sim.DeleteUser(w.tn.ID, gone))
	refused("no longer in the customer's tenant", "licences", "assign", "--user", gone, "--sku", sku.PartNumber)

	// Refused by Microsoft during the change: the consent lacks the permission. check says so.
	require.NoError(t, s.Sim.SetLicenceWriteConsent(w.tn.ID, false))
	require.NoError(t, s.Sim.ExpireAccessTokens())
	out, _ := runCLI(t, s, "check", "--ca-file", s.Sim.CAFile())
	assert.Contains(t, out, "LicenseAssignment.ReadWrite.All")
	assert.Contains(t, out, "grant admin consent in the tenant again")
	refused("LicenceWriteDenied", "licences", "assign", "--user", user.ID, "--sku", sku.PartNumber)
	w.agree(t, user.ID, sku.SkuID, 0)
	require.NoError(t, s.Sim.SetLicenceWriteConsent(w.tn.ID, true))
	require.NoError(t, s.Sim.ExpireAccessTokens())

	// Refused by Microsoft: the seats were sold down since the PSA last imported them.
	skus, subs, err := s.Sim.LicenceTruth(w.tn.ID)
	require.NoError(t, err)
	for _, sub := range subs {
		if strings.EqualFold(sub.SkuID, sku.SkuID) && sub.Status == sim.SubscriptionActive {
			for _, k := range skus {
				if k.SkuID == sku.SkuID {
					_, err := s.Sim.SetSubscriptionQuantity(w.tn.ID, sub.ID, max(1, sub.Quantity-(k.Active-k.Consumed)))
					require.NoError(t, err)
				}
			}
		}
	}
	if k, _ := w.truth(t, user.ID, sku.SkuID); k == 0 {
		refused("LicenceNoneLeft", "licences", "assign", "--user", user.ID, "--sku", sku.PartNumber)
		w.agree(t, user.ID, sku.SkuID, 0)
	}

	chs := w.changes(t)
	codes := map[string]string{}
	for _, ch := range chs {
		codes[ch.ErrorCode] = ch.State
		assert.NotEqual(t, "running", ch.State, "%+v", ch)
		if ch.State == "failed" {
			assert.NotEmpty(t, ch.Remediation, "%+v", ch)
			assert.False(t, ch.Applied)
		}
	}
	assert.Equal(t, map[string]string{"LicenceWriteDenied": "failed", "LicenceNoneLeft": "failed"}, codes,
		"only the changes Microsoft refused were started; the validator's refusals left no change")
}

func (w writeBack) pickOther(t *testing.T, sku sim.SkuTruth, not string) string {
	t.Helper()
	for _, u := range truthUsers(t, w.s, w.tn.ID) {
		if u.ID != not && u.AccountEnabled && u.UserType != "Guest" && !slices.Contains(u.AssignedSkuIDs, sku.SkuID) {
			return u.ID
		}
	}
	t.Fatal("scenario: no second user")
	return ""
}

// A worker SIGKILLed after Microsoft made the assignment but before cspsync heard back
// leaves exactly one assignment and a finished change.
func TestWorkerKilledBetweenAssignLicenseAndVerificationAppliesOnce(t *testing.T) {
	bin := buildWorker(t)
	sc := sim.Generate(sim.GenerateOptions{Seed: 16, Tenants: 1, UsersPerTenant: 12})
	s := testenv.NewStack(t, sc, sim.Options{})
	ctx := context.Background()
	worker := startWorkerProcess(t, s, bin)
	status, page, _ := signIn(t, s, connect(t, s, connectOpts{partner: "acme"}))
	require.Equal(t, http.StatusOK, status, page)
	w := newWriteBack(t, s)
	sku, user := w.pick(t)
	mustCLI(t, s, "licences", "manage", "--customer", w.customer, "on")
	_, consumedBefore := w.truth(t, user.ID, sku.SkuID)

	s.Sim.HoldAssignLicenseReplies(5 * time.Minute)
	out := mustCLI(t, s, "licences", "assign", "--ca-file", s.Sim.CAFile(), "--user", user.ID, "--sku", sku.PartNumber, "--no-wait")
	assert.Contains(t, out, "accepted")
	require.Eventually(t, func() bool { held, _ := w.truth(t, user.ID, sku.SkuID); return held == 1 }, time.Minute, 20*time.Millisecond)
	require.NoError(t, worker.Process.Signal(syscall.SIGKILL))
	_, _ = worker.Process.Wait()
	s.Sim.HoldAssignLicenseReplies(0)
	chs := w.changes(t)
	require.Len(t, chs, 1)
	require.Equal(t, "running", chs[0].State, "the worker died before the change finished")

	startWorkerProcess(t, s, bin)
	require.Eventually(t, func() bool { return w.changes(t)[0].State != "running" }, 3*time.Minute, 200*time.Millisecond)
	ch := w.changes(t)[0]
	assert.Equal(t, "done", ch.State, "%+v", ch)
	assert.False(t, ch.Applied, "the retry found the assignment made and did not call assignLicense again")
	w.agree(t, user.ID, sku.SkuID, 1)
	_, consumed := w.truth(t, user.ID, sku.SkuID)
	assert.Equal(t, consumedBefore+1, consumed, "exactly one seat more is consumed")
	var events int
	require.NoError(t, s.Store.Pool().QueryRow(ctx, `SELECT count(*) FROM licence_events WHERE field = 'licence_change'`).Scan(&events))
	assert.Equal(t, 1, events)
}

func ptr[T any](v T) *T { return &v }
