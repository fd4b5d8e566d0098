// Package testenv gives tests the real services they run against: a fresh
// PostgreSQL database per test, the pinned Temporal dev server and the
// simulator.
package testenv

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/secrets"
	"github.com/cspsync/cspsync/internal/store"
)

// EnvTestDatabaseURL points tests at a PostgreSQL server (any database on it;
// each test creates and drops its own).
const EnvTestDatabaseURL = "CSPSYNC_TEST_DATABASE_URL"

func adminURL() string {
	if u := os.Getenv(EnvTestDatabaseURL); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// DatabaseURL creates an empty database for this test, dropped when it ends,
// and returns its URL.
func DatabaseURL(t testing.TB) string { t.Helper(); return database(t, adminURL(), true) }

// MissingDatabaseURL names a database that does not exist yet (dropped at the
// end of the test if something created it).
func MissingDatabaseURL(t testing.TB) string { t.Helper(); return database(t, adminURL(), false) }

// database creates (or only names) a database for this test on the server
// of the admin URL.
func database(t testing.TB, admin string, create bool) string {
	t.Helper()
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(admin)
	require.NoError(t, err)
	conn, err := pgx.ConnectConfig(ctx, cfg)
	require.NoError(t, err, "tests need PostgreSQL (set %s or start it on 127.0.0.1:5432)", EnvTestDatabaseURL)
	defer conn.Close(ctx)

	name := fmt.Sprintf("cspsync_test_%d", time.Now().UnixNano())
	if create {
		_, err = conn.Exec(ctx, "CREATE DATABASE "+name)
		require.NoError(t, err)
	}
	t.Cleanup(func() {
		c, err := pgx.ConnectConfig(context.Background(), cfg)
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			_ = c.Close(context.Background())
		}
	})
	u, err := url.Parse(admin)
	require.NoError(t, err, "%s must be a postgres:// URL", EnvTestDatabaseURL)
	u.Path = "/" + name
	return u.String()
}

// Store opens a migrated store on a fresh database, with a random key.
func Store(t testing.TB, opts ...store.Option) (*store.Store, string, string) {
	t.Helper()
	return storeOn(t, adminURL(), opts...)
}

func storeOn(t testing.TB, admin string, opts ...store.Option) (*store.Store, string, string) {
	t.Helper()
	url := database(t, admin, true)
	key := secrets.NewKeyText()
	box, err := secrets.Load(key, "")
	require.NoError(t, err)
	st, err := store.Open(context.Background(), url, box, opts...)
	require.NoError(t, err)
	t.Cleanup(st.Close)
	require.NoError(t, st.Migrate(context.Background()))
	return st, url, key
}

// CreateCustomer adds a PSA customer by hand, as a PSA would (no partner,
// no tenant yet), and returns its id.
func CreateCustomer(ctx context.Context, st *store.Store, name string) (int64, error) {
	var id int64
	err := st.Pool().QueryRow(ctx, `INSERT INTO customers (name) VALUES ($1) RETURNING id`, name).Scan(&id)
	return id, err
}

// CountCustomers counts a partner's customers linked to a tenant.
func CountCustomers(ctx context.Context, st *store.Store, partnerID string) (int, error) {
	var n int
	err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM customers WHERE partner_id = $1 AND azure_tenant_id IS NOT NULL`, partnerID).Scan(&n)
	return n, err
}
