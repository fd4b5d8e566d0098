package cli_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/config"
	"github.com/cspsync/cspsync/internal/testenv"
)

// One data directory: with CSPSYNC_DATA_DIR set, the dev setup creates its
// key there and every other command finds it there (they looked in
// .data/encryption.key whatever the variable said). `dev` stops at
// Temporal here, after creating the key and migrating the database.
func TestEveryCommandFindsTheKeyInTheDataDirectory(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(config.EnvDataDir, dir)
	db := testenv.MissingDatabaseURL(t)
	out, err := run("--database-url", db, "--temporal-address", "127.0.0.1:1", "dev", "--temporal-bin", filepath.Join(dir, "no-temporal"))
	require.ErrorContains(t, err, "the Temporal CLI is not at", out)
	require.FileExists(t, filepath.Join(dir, "encryption.key"))
	require.DirExists(t, filepath.Join(dir, "logs"))

	out, err = run("--database-url", db, "licences", "report")
	require.NoError(t, err, out)
	assert.Contains(t, out, "TOTAL")

	// The global flag and dev's own say the same.
	other := t.TempDir()
	t.Setenv(config.EnvDataDir, "")
	require.NoError(t, os.Unsetenv(config.EnvDataDir))
	_, err = run("--database-url", testenv.MissingDatabaseURL(t), "--data-dir", other, "--temporal-address", "127.0.0.1:1", "dev", "--temporal-bin", filepath.Join(dir, "no-temporal"))
	require.ErrorContains(t, err, "the Temporal CLI is not at")
	assert.FileExists(t, filepath.Join(other, "encryption.key"))
	third := t.TempDir()
	_, err = run("--database-url", testenv.MissingDatabaseURL(t), "--temporal-address", "127.0.0.1:1", "dev", "--data-dir", third,
		"--temporal-bin", filepath.Join(dir, "no-temporal"))
	require.ErrorContains(t, err, "the Temporal CLI is not at")
	assert.FileExists(t, filepath.Join(third, "encryption.key"))
}
