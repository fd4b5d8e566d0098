package e2e

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/sim"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/testenv"
)

// TestTokensReadCredentialsAHandfulOfTimesPerThousandGraphRequests runs a
// partner's authorisation, discovery and a tenant's first cycle whose users
// round makes over 1,000 Graph requests (small pages), and counts the
// queries that read sealed credentials (partner secrets, token caches):
// tokens come from memory while fresh, so it stays a handful.
func TestTokensReadCredentialsAHandfulOfTimesPerThousandGraphRequests(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 1000, Tenants: 1, UsersPerTenant: 10000})
	s := testenv.NewStack(t, sc, sim.Options{})
	s.Worker.UserPageSize = 10
	s.StartWorker()
	readsBefore, graphBefore := store.CredentialReads(), s.Sim.Stats().GraphRequests
	authorise(t, s, connectOpts{})
	require.Eventually(t, func() bool { return finishedRounds(t, s) == 1 && settled(t, s) == 1 }, 5*time.Minute, 200*time.Millisecond)
	reads, graph := store.CredentialReads()-readsBefore, s.Sim.Stats().GraphRequests-graphBefore
	t.Logf("authorisation, discovery and the first cycle: %d credential reads for %d Graph requests", reads, graph)
	// Tokens are first asked for here: the sign-in, discovery and the
	// tenant's first token each load and store MSAL's cache.
	assert.LessOrEqual(t, reads, int64(20))

	// A full round again: the tokens are fresh, only each activity's read
	// of the partner's secrets is left.
	readsBefore, graphBefore = store.CredentialReads(), s.Sim.Stats().GraphRequests
	out, err := runCLI(t, s, "sync", "--partner", "acme", "--users", "--full", "--wait", "--timeout", "5m")
	require.NoError(t, err, out)
	reads, graph = store.CredentialReads()-readsBefore, s.Sim.Stats().GraphRequests-graphBefore
	t.Logf("a full round: %d credential reads for %d Graph requests", reads, graph)
	require.GreaterOrEqual(t, graph, 1000, "the round made the Graph requests it is measured on")
	assert.LessOrEqual(t, float64(reads)*1000/float64(graph), 10.0, "credential reads per 1,000 Graph requests")
}
