package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/sim"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/testenv"
	"github.com/cspsync/cspsync/workflows"
)

// discoveryFigures is what benchDiscovery measured.
type discoveryFigures struct {
	tenants int
	// from the sign-in: every tenant stored and its workflow running; and
	// every tenant's first cycle (its licence import) settled
	firstImport, firstCycles, rediscover time.Duration
	// the rediscovery's activities: reading and saving the tenants, then
	// ensuring each one's workflow runs
	discoverActivity, ensureActivity time.Duration
	// during the rediscovery: queries reading sealed credentials, and the
	// Graph requests (GDAP relationships and access assignments) and
	// Partner Center pages made
	credentialReads, graphRequests, pcRequests int
}

// benchDiscovery measures the first import of 2,000 new tenants, from the
// partner's sign-in until every tenant's workflow runs, then until every
// one's first cycle (a licence import: GDAP tenants await consent) has
// settled, and one whole rediscovery of them, through every real part: the partner
// workflow, MSAL silent tokens, the partner's 2,000 GDAP relationships and
// their access assignments through Graph, Partner Center paging over HTTPS
// (pages of 100), the upserts in PostgreSQL. The worker runs in-process, so
// its credential reads can be counted.
// Figures land in f as they are measured, so a part that fails later still
// reports the ones before.
func benchDiscovery(b *testing.B, f *discoveryFigures) {
	f.tenants = 2000
	s := testenv.NewStack(b, sim.Generate(sim.GenerateOptions{Seed: 99, Tenants: f.tenants, GDAP: f.tenants}), sim.Options{})
	s.StartWorker()
	// GDAP tenants wait for consent, so no tenant syncs compete with discovery.
	start := time.Now()
	authorise(b, s, connectOpts{relationship: "GDAP"})
	ctx := context.Background()
	require.Eventually(b, func() bool {
		resp, err := s.Client.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{
			Query: "WorkflowType = 'TenantWorkflow' AND ExecutionStatus = 'Running'"})
		require.NoError(b, err)
		return resp.Count == int64(f.tenants)
	}, 10*time.Minute, 100*time.Millisecond)
	f.firstImport = time.Since(start)
	// A busy machine can take long here: 2,000 licence imports and as many
	// continue-as-new.
	waitTenants(b, s, 30*time.Minute, func(ts map[string]store.Customer) bool {
		n := 0
		for _, c := range ts {
			if c.SyncState == domain.TenantAwaitingConsent {
				n++
			}
		}
		return n == f.tenants
	})
	f.firstCycles = time.Since(start)

	reads, stats := store.CredentialReads(), s.Sim.Stats()
	start = time.Now()
	require.NoError(b, workflows.SignalDiscover.Send(ctx, s.Client, workflows.PartnerWorkflowID("acme"), struct{}{}))
	waitPartner(b, s, "acme", 10*time.Minute, func(st workflows.PartnerState) bool { return st.Discoveries >= 2 })
	f.rediscover = time.Since(start)
	after := s.Sim.Stats()
	f.credentialReads = int(store.CredentialReads() - reads)
	f.graphRequests = after.GraphRequests - stats.GraphRequests
	f.pcRequests = after.PartnerCenterRequests - stats.PartnerCenterRequests
	took := activityTimes(b, s, workflows.PartnerWorkflowID("acme"))
	f.discoverActivity, f.ensureActivity = took["DiscoverTenants"], took["EnsureTenants"]
}

// activityTimes reads a workflow's history for how long the last run of
// each activity type took, from scheduled to completed.
func activityTimes(b *testing.B, s *testenv.Stack, workflowID string) map[string]time.Duration {
	ctx := context.Background()
	scheduled := map[int64]*historypb.HistoryEvent{}
	out := map[string]time.Duration{}
	iter := s.Client.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		require.NoError(b, err)
		if ev.GetActivityTaskScheduledEventAttributes() != nil {
			scheduled[ev.EventId] = ev
		}
		if c := ev.GetActivityTaskCompletedEventAttributes(); c != nil {
			if sch := scheduled[c.ScheduledEventId]; sch != nil {
				out[sch.GetActivityTaskScheduledEventAttributes().ActivityType.GetName()] = ev.EventTime.AsTime().Sub(sch.EventTime.AsTime())
			}
		}
	}
	return out
}
