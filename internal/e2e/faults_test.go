package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/sim"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/testenv"
	"github.com/cspsync/cspsync/workflows"
)

func TestThrottlingAndTransientFailuresAreRetriedAndResolved(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 21, Tenants: 3, UsersPerTenant: 1})
	s := testenv.NewStack(t, sc, sim.Options{})
	s.StartWorker()
	authorise(t, s, connectOpts{})
	waitTenants(t, s, 30*time.Second, func(ts map[string]store.Customer) bool { return allIn(ts, domain.TenantReady, sc.Tenants...) })

	// Partner Center throttles twice: discovery waits as long as Retry-After
	// asks (3 s, where the retry policy alone waits 1 s, then 2 s) and completes.
	pcBefore := s.Sim.Stats().PartnerCenterRequests
	s.Sim.SetFault(sim.Fault{API: sim.APIPartnerCenter, Kind: sim.FaultThrottle, Count: 2, RetryAfter: "3"})
	out, err := runCLI(t, s, "sync", "--partner", "acme", "--wait", "--timeout", "1m")
	require.NoError(t, err, out)
	assert.Contains(t, out, "Discovered 3 tenants")
	stats := s.Sim.Stats()
	require.Equal(t, 3, stats.PartnerCenterRequests-pcBefore, "two throttled attempts, one that worked: no storm")
	at := stats.RequestTimes[sim.APIPartnerCenter]
	at = at[len(at)-3:]
	for i := 1; i < len(at); i++ {
		assert.Greater(t, at[i].Sub(at[i-1]), 2500*time.Millisecond, "attempt %d came before Retry-After allowed", i+1)
	}

	// The throttling was recorded once (deduplicated) and resolved by the success.
	all := listErrors(t, s, "acme", true)
	require.Len(t, all, 1)
	assert.Equal(t, "HTTP429", all[0].Code)
	assert.Equal(t, 2, all[0].Occurrences)
	assert.NotNil(t, all[0].ResolvedAt)

	// Graph answers 503 twice: the Graph SDK retries within the one activity
	// attempt (honouring Retry-After), the tenant syncs.
	before := *waitTenants(t, s, time.Second, func(map[string]store.Customer) bool { return true })[sc.Tenants[0].ID].LastSyncAt
	faultsBefore := s.Sim.Stats().FaultsInjected
	s.Sim.SetFault(sim.Fault{API: sim.APIGraph, Kind: sim.Fault5xx, Count: 2, RetryAfter: "0.1"})
	_, err = runCLI(t, s, "tenants", "sync", sc.Tenants[0].ID)
	require.NoError(t, err)
	waitTenants(t, s, time.Minute, func(ts map[string]store.Customer) bool {
		c := ts[sc.Tenants[0].ID]
		return c.SyncState == domain.TenantReady && c.LastSyncAt.After(before)
	})
	assert.Equal(t, 2, s.Sim.Stats().FaultsInjected-faultsBefore, "both 503s were served")
	assert.Equal(t, []int32{1, 1}, activityAttempts(t, s, workflows.TenantWorkflowID("acme", sc.Tenants[0].ID), "SyncTenant"),
		"the first sync and this one each succeeded on their first attempt: Temporal retried nothing")
	all = listErrors(t, s, "acme", true)
	assert.Len(t, all, 1, "no attempt failed on the 503s, so none was recorded; only the throttling is")
	open := listErrors(t, s, "acme", false)
	assert.Empty(t, open, "transient failures leave nothing open once the sync succeeded")
}

// activityAttempts lists, for each activity of the given type that a
// workflow's runs executed, the attempt it finished on.
func activityAttempts(t *testing.T, s *testenv.Stack, workflowID, activityType string) []int32 {
	t.Helper()
	var out []int32
	for _, ex := range s.Executions() {
		if ex.Execution.WorkflowId != workflowID {
			continue
		}
		scheduled := map[int64]string{}
		for _, ev := range s.History(ex).Events {
			if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
				scheduled[ev.EventId] = a.ActivityType.GetName()
			}
			if a := ev.GetActivityTaskStartedEventAttributes(); a != nil && scheduled[a.ScheduledEventId] == activityType {
				out = append(out, a.Attempt)
			}
		}
	}
	return out
}

func TestSignInWithoutMFAIsRejectedWithItsFix(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 22, Tenants: 2, UsersPerTenant: 1})
	sc.Admin.MFARegistered = false
	s := testenv.NewStack(t, sc, sim.Options{})
	s.StartWorker()

	redirect, err := sim.SignIn(context.Background(), s.HTTP, connect(t, s, connectOpts{partner: "acme"}),
		sim.DefaultAdminUPN, sim.DefaultAdminPassword, "")
	require.NoError(t, err)
	status, page := s.FollowRedirect(redirect.String())
	assert.Equal(t, http.StatusBadGateway, status)
	assert.Contains(t, page, "AADSTS50076")
	st := waitPartner(t, s, "acme", 10*time.Second, func(st workflows.PartnerState) bool { return st.Auth == domain.AuthNeedsReauthorisation })
	assert.Contains(t, st.LastError.Remediation, "MFA")
	assert.Zero(t, st.Discoveries)
}
