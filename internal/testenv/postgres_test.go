package testenv_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/testenv"
)

// A restart of a private server cuts open connections and keeps committed data.
func TestPrivatePostgresRestartKeepsDataAndCutsConnections(t *testing.T) {
	ctx := context.Background()
	pg := testenv.PrivatePostgres(t)
	conn, err := pgx.Connect(ctx, pg.URL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)`)
	require.NoError(t, err)

	pg.Restart()
	assert.Error(t, conn.Ping(ctx), "the restart cut the connection")
	again, err := pgx.Connect(ctx, pg.URL)
	require.NoError(t, err)
	defer again.Close(ctx)
	var v int
	require.NoError(t, again.QueryRow(ctx, `SELECT v FROM kept`).Scan(&v))
	assert.Equal(t, 42, v)
}
