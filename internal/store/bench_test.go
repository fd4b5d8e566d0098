package store_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/domain"
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

// BenchmarkSaveUserPage measures committing one page of a users round (200
// users, as Graph pages them): a first full round's page (every user new:
// row, log row, licence link, seen) and a later full round's page of the
// same users unchanged (seen only). It reports the time per user and, with
// -v, where a page's time goes by statement (the write path of issue 19).
func BenchmarkSaveUserPage(b *testing.B) {
	const perPage = 200
	for _, kind := range []string{"new-users", "unchanged-users"} {
		b.Run(kind, func(b *testing.B) {
			tr := &statementTimes{}
			f := newUsersFixture(b, store.WithTracer(tr))
			sku := "c42b9cae-ea4f-4ab7-9717-81576235ccac"
			page := func(i int, from, next string, fresh bool) store.UserPage {
				p := store.UserPage{From: from, Next: next, Counts: domain.RoundCounts{Users: perPage}}
				for j := 0; j < perPage; j++ {
					azure := fmt.Sprintf("%08x-0000-4000-8000-%012x", i, j)
					p.Seen = append(p.Seen, azure)
					if !fresh {
						continue
					}
					u := f.newUser(azure, fmt.Sprintf("User %d-%d", i, j))
					u.Log.Changes = append(u.Log.Changes, domain.Change{Field: "email", New: u.Row.Email},
						domain.Change{Field: "jobTitle", New: "Engineer"}, domain.Change{Field: "department", New: "Sales"},
						domain.Change{Field: "site", New: "Main"})
					u.Row.JobTitle, u.Row.Department = "Engineer", "Sales"
					p.Users = append(p.Users, u)
					p.Licences = append(p.Licences, store.UserLicences{AzureObjectID: azure, Skus: []string{sku}})
				}
				return p
			}
			r := f.start(b, domain.RoundFull)
			if kind == "unchanged-users" {
				// The users exist: a first round wrote them.
				cursor := ""
				for i := 0; i < b.N; i++ {
					next := fmt.Sprint("https://graph.example/page", i+1)
					var err error
					if r, err = f.st.SaveUserPage(f.ctx, r, page(i, cursor, next, true)); err != nil {
						b.Fatal(err)
					}
					cursor = next
				}
				if _, err := f.st.SaveUserPage(f.ctx, r, store.UserPage{From: cursor, End: &store.RoundEnd{DeltaLink: "d"}}); err != nil {
					b.Fatal(err)
				}
				r = f.start(b, domain.RoundFull)
			}
			pages := make([]store.UserPage, b.N)
			for i := range pages {
				from := ""
				if i > 0 {
					from = fmt.Sprint("https://graph.example/page", i)
				}
				pages[i] = page(i, from, fmt.Sprint("https://graph.example/page", i+1), kind == "new-users")
			}
			tr.reset()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				var err error
				if r, err = f.st.SaveUserPage(f.ctx, r, pages[i]); err != nil {
					b.Fatal(err)
				}
				if r.Pages%4 == 0 { // as the activity does
					if err := f.st.FreshenStatistics(f.ctx); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*perPage), "µs/user")
			tr.report(b, b.N)
		})
	}
}

// statementTimes sums the time of each statement (queries and COPYs) a
// benchmark's store ran, keyed by the statement's first words.
type statementTimes struct {
	mu    sync.Mutex
	spent map[string]time.Duration
	count map[string]int
}

type traceStart struct{}

func (s *statementTimes) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.spent, s.count = map[string]time.Duration{}, map[string]int{}
}

func (s *statementTimes) add(ctx context.Context, key string) {
	start, _ := ctx.Value(traceStart{}).(time.Time)
	key = strings.Join(strings.Fields(key), " ")
	if len(key) > 70 {
		key = key[:70]
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.spent == nil {
		return
	}
	s.spent[key] += time.Since(start)
	s.count[key]++
}

func (s *statementTimes) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	return context.WithValue(context.WithValue(ctx, traceStart{}, time.Now()), traceKey{}, d.SQL)
}

type traceKey struct{}

func (s *statementTimes) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryEndData) {
	sql, _ := ctx.Value(traceKey{}).(string)
	s.add(ctx, sql)
}

func (s *statementTimes) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceCopyFromStartData) context.Context {
	return context.WithValue(context.WithValue(ctx, traceStart{}, time.Now()), traceKey{}, "COPY "+d.TableName.Sanitize())
}

func (s *statementTimes) TraceCopyFromEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceCopyFromEndData) {
	sql, _ := ctx.Value(traceKey{}).(string)
	s.add(ctx, sql)
}

func (s *statementTimes) report(b *testing.B, pages int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.spent))
	var total time.Duration
	for k, d := range s.spent {
		keys = append(keys, k)
		total += d
	}
	sort.Slice(keys, func(i, j int) bool { return s.spent[keys[i]] > s.spent[keys[j]] })
	for _, k := range keys {
		b.Logf("%7.0f µs/page %4.0f %% %5.1f/page  %s", float64(s.spent[k].Microseconds())/float64(pages),
			100*s.spent[k].Seconds()/total.Seconds(), float64(s.count[k])/float64(pages), k)
	}
}

func (s *statementTimes) TraceBatchStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	// A batch is named by its first statement's first words.
	sql := ""
	if qs := d.Batch.QueuedQueries; len(qs) > 0 {
		sql = "batch: " + qs[0].SQL
	}
	return context.WithValue(context.WithValue(ctx, traceStart{}, time.Now()), traceKey{}, sql)
}

func (s *statementTimes) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (s *statementTimes) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchEndData) {
	sql, _ := ctx.Value(traceKey{}).(string)
	s.add(ctx, sql)
}
