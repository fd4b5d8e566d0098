package cli

import (
	"strings"
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

// Each "Try next" line is a command that runs as printed: the example
// customer and the partner where they belong (the format's argument indexes
// once shifted and printed `users list --customer bin/cspsync dev stop`).
func TestDemoTryNextLinesNameTheirArguments(t *testing.T) {
	out := tryNext("CSPSYNC_CA_FILE=/d/sim/ca.pem", "acme", "17", "/d", "bin/cspsync dev stop --data-dir /d")
	assert.NotContains(t, out, "%!")
	for _, want := range []string{
		"  export CSPSYNC_CA_FILE=/d/sim/ca.pem\n",
		"  bin/cspsync users list --customer 17\n",
		"  bin/cspsync mappings sites --customer 17\n",
		"  bin/cspsync sync --partner acme --users --wait\n",
		"  bin/cspsync sync --partner acme --wait\n",
		"Logs in /d/logs; stop everything with: bin/cspsync dev stop --data-dir /d\n",
	} {
		assert.Contains(t, out, want)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		if strings.HasPrefix(line, "  bin/cspsync ") {
			for _, f := range strings.Fields(line)[2:] {
				assert.False(t, strings.HasPrefix(f, "bin/"), "a command in an argument's place: %q", line)
			}
		}
	}
}
