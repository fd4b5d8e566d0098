package service_test

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/config"
	"github.com/cspsync/cspsync/internal/secrets"
	"github.com/cspsync/cspsync/internal/service"
	"github.com/cspsync/cspsync/internal/testenv"
)

// The worker migrates its schema but never creates a missing database: a
// mistyped name gets the fix, not a new empty database.
func TestWorkerDoesNotCreateAMissingDatabase(t *testing.T) {
	missing := testenv.MissingDatabaseURL(t)
	u, err := url.Parse(missing)
	require.NoError(t, err)
	err = service.Run(context.Background(), config.Worker{Connection: config.Connection{
		DatabaseURL: missing, EncryptionKey: secrets.NewKeyText(), TemporalAddress: "127.0.0.1:1"}},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `database "`+strings.TrimPrefix(u.Path, "/")+"\" does not exist or is not migrated: run `cspsync migrate`")
	_, err = pgx.Connect(context.Background(), missing)
	assert.Error(t, err, "the database was not created")
}
