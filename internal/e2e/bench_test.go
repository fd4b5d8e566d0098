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

// BenchmarkRediscovery measures one whole discovery of 2,000 known tenants
// through every real part: the partner workflow, MSAL silent tokens, the
// partner's 2,000 GDAP relationships and their access assignments through
// Graph, Partner Center paging over HTTPS (pages of 100), the upserts in
// PostgreSQL.
func BenchmarkRediscovery(b *testing.B) {
	const tenants = 2000
	s := testenv.NewStack(b, sim.Generate(sim.GenerateOptions{Seed: 99, Tenants: tenants, GDAP: tenants}), sim.Options{})
	s.StartWorker()
	// GDAP tenants wait for consent, so no tenant syncs compete with discovery.
	start := time.Now()
	authorise(b, s, connectOpts{relationship: "GDAP"})
	ctx := context.Background()
	// The first import also starts 2,000 tenant workflows; let them settle.
	waitTenants(b, s, 10*time.Minute, func(ts map[string]store.Customer) bool {
		n := 0
		for _, c := range ts {
			if c.SyncState == domain.TenantAwaitingConsent {
				n++
			}
		}
		return n == tenants
	})
	b.Logf("first import with %d tenant workflows started: %s", tenants, time.Since(start).Round(time.Second))

	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		require.NoError(b, workflows.SignalDiscover.Send(ctx, s.Client, workflows.PartnerWorkflowID("acme"), struct{}{}))
		waitPartner(b, s, "acme", 10*time.Minute, func(st workflows.PartnerState) bool { return st.Discoveries >= i+2 })
	}
	b.ReportMetric(float64(tenants*b.N)/b.Elapsed().Seconds(), "tenants/s")
}
