package cli

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/cspsync/cspsync/internal/config"
	"github.com/cspsync/cspsync/internal/sim"
)

// The demo's "Try next" commands include `check`, which calls the
// simulator: without its CA in the environment they met an untrusted
// certificate.
func TestDemoTryNextTrustsTheSimulatorsCA(t *testing.T) {
	assert.Equal(t, "CSPSYNC_CA_FILE=.data/sim/ca.pem", demoExports(".data/sim/ca.pem", config.DefaultDatabaseURL, config.DefaultDataDir, "", nil))
	assert.Equal(t, "CSPSYNC_CA_FILE=.data/sim/ca.pem CSPSYNC_OPERATOR_GROUP="+sim.DefaultOperatorsGroupID,
		demoExports(".data/sim/ca.pem", config.DefaultDatabaseURL, config.DefaultDataDir, "", []string{config.EnvOperatorGroup + "=" + sim.DefaultOperatorsGroupID}))
	assert.Equal(t, "CSPSYNC_CA_FILE=/tmp/d/sim/ca.pem CSPSYNC_DATABASE_URL='postgres://db/other' CSPSYNC_DATA_DIR=/tmp/d CSPSYNC_ENCRYPTION_KEY_FILE=/tmp/k",
		demoExports("/tmp/d/sim/ca.pem", "postgres://db/other", "/tmp/d", "/tmp/k", nil))
}
