package cli

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/cspsync/cspsync/internal/config"
	"github.com/cspsync/cspsync/internal/flags"
)

// The demo's "Try next" commands include `check`, which calls the
// simulator: without its CA in the environment they met an untrusted
// certificate.
func TestDemoTryNextTrustsTheSimulatorsCA(t *testing.T) {
	assert.Equal(t, "export CSPSYNC_CA_FILE=.data/sim/ca.pem", demoExport(".data/sim/ca.pem", config.DefaultDatabaseURL, flags.KeyFile.Value))
	assert.Equal(t, "export CSPSYNC_CA_FILE=/tmp/d/sim/ca.pem CSPSYNC_DATABASE_URL='postgres://db/other' CSPSYNC_ENCRYPTION_KEY_FILE=/tmp/d/encryption.key",
		demoExport("/tmp/d/sim/ca.pem", "postgres://db/other", "/tmp/d/encryption.key"))
}
