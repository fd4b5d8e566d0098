package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/sim"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/testenv"
	"github.com/cspsync/cspsync/workflows"
)

// discoveryFigures is what benchDiscovery measured.
type discoveryFigures struct {
	tenants                 int
	firstImport, rediscover time.Duration
	// during the rediscovery: queries reading sealed credentials, and the
	// Graph requests (GDAP relationships and access assignments) and
	// Partner Center pages made
	credentialReads, graphRequests, pcRequests int
}

// benchDiscovery measures the first import of 2,000 new tenants, from the
// partner's sign-in until every tenant's workflow has recorded its state,
// and one whole rediscovery of them, through every real part: the partner
// workflow, MSAL silent tokens, the partner's 2,000 GDAP relationships and
// their access assignments through Graph, Partner Center paging over HTTPS
// (pages of 100), the upserts in PostgreSQL. The worker runs in-process, so
// its credential reads can be counted.
func benchDiscovery(b *testing.B) discoveryFigures {
	f := discoveryFigures{tenants: 2000}
	s := testenv.NewStack(b, sim.Generate(sim.GenerateOptions{Seed: 99, Tenants: f.tenants, GDAP: f.tenants}), sim.Options{})
	s.StartWorker()
	// GDAP tenants wait for consent, so no tenant syncs compete with discovery.
	start := time.Now()
	authorise(b, s, connectOpts{relationship: "GDAP"})
	ctx := context.Background()
	waitTenants(b, s, 10*time.Minute, func(ts map[string]store.Customer) bool {
		n := 0
		for _, c := range ts {
			if c.SyncState == domain.TenantAwaitingConsent {
				n++
			}
		}
		return n == f.tenants
	})
	f.firstImport = time.Since(start)

	reads, stats := store.CredentialReads(), s.Sim.Stats()
	start = time.Now()
	require.NoError(b, workflows.SignalDiscover.Send(ctx, s.Client, workflows.PartnerWorkflowID("acme"), struct{}{}))
	waitPartner(b, s, "acme", 10*time.Minute, func(st workflows.PartnerState) bool { return st.Discoveries >= 2 })
	f.rediscover = time.Since(start)
	after := s.Sim.Stats()
	f.credentialReads = int(store.CredentialReads() - reads)
	f.graphRequests = after.GraphRequests - stats.GraphRequests
	f.pcRequests = after.PartnerCenterRequests - stats.PartnerCenterRequests
	return f
}
