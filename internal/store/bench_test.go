package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/testenv"
)

// BenchmarkSaveDiscoveryPage measures committing one Partner Center page of
// 100 tenants with its cursor, the unit of discovery work (first import and
// re-discovery of known tenants).
func BenchmarkSaveDiscoveryPage(b *testing.B) {
	for _, known := range []bool{false, true} {
		b.Run(map[bool]string{false: "new-tenants", true: "known-tenants"}[known], func(b *testing.B) {
			st, _, _ := testenv.Store(b)
			ctx := context.Background()
			require.NoError(b, st.UpsertPartner(ctx, partner("acme")))
			page := func(i int) []store.DiscoveredTenant {
				if known {
					i = 0
				}
				out := make([]store.DiscoveredTenant, 100)
				for j := range out {
					out[j] = store.DiscoveredTenant{TenantID: fmt.Sprintf("%08x-0000-4000-8000-%012x", i, j),
						Name: fmt.Sprintf("Customer %d-%d", i, j), Domain: fmt.Sprintf("c%d-%d.onmicrosoft.com", i, j)}
				}
				return out
			}
			cursor := ""
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				next := fmt.Sprint("cursor-", i)
				if _, err := st.SaveDiscoveryPage(ctx, "acme", cursor, next, page(i)); err != nil {
					b.Fatal(err)
				}
				cursor = next
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*100), "µs/tenant")
		})
	}
}
