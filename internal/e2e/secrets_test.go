package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/cspsync/cspsync/internal/testenv"
	"github.com/cspsync/cspsync/workflows"
)

// Kinds of secret a history must never hold.
const (
	kindClientSecret = "client secret"
	kindCode         = "authorization code"
	kindState        = "state"
	kindVerifier     = "PKCE verifier"
	kindToken        = "refresh or access token"
)

// secretSet collects, by kind, every value that must never appear in a
// workflow history.
type secretSet map[string][]string

func (ss secretSet) add(kind string, values ...string) {
	for _, v := range values {
		if v != "" {
			ss[kind] = append(ss[kind], v)
		}
	}
}

// addRedirect adds the code and state of a sign-in's redirect to the callback.
func (ss secretSet) addRedirect(t testing.TB, redirect string) {
	t.Helper()
	u, err := url.Parse(redirect)
	require.NoError(t, err)
	ss.add(kindCode, u.Query().Get("code"))
	ss.add(kindState, u.Query().Get("state"))
}

// addTokens adds the refresh and access tokens the partner's token caches
// hold now (call it before tokens are replaced or dropped).
func (ss secretSet) addTokens(t testing.TB, s *testenv.Stack) {
	t.Helper()
	ctx := context.Background()
	rows, err := s.Store.Pool().Query(ctx, `SELECT cache_key FROM token_caches WHERE partner_id = 'acme'`)
	require.NoError(t, err)
	var keys []string
	for rows.Next() {
		var k string
		require.NoError(t, rows.Scan(&k))
		keys = append(keys, k)
	}
	require.NoError(t, rows.Err())
	for _, k := range keys {
		blob, err := s.Store.LoadTokenCache(ctx, "acme", k)
		require.NoError(t, err)
		ss.add(kindToken, cachedSecrets(t, blob)...)
	}
}

// addVerifiers adds the PKCE verifiers the simulator's token endpoint received.
func (ss secretSet) addVerifiers(s *testenv.Stack) {
	ss.add(kindVerifier, s.Sim.Stats().CodeVerifiers...)
}

// cachedSecrets pulls every "secret" value out of an MSAL cache blob.
func cachedSecrets(t testing.TB, blob []byte) []string {
	var cache map[string]map[string]map[string]any
	require.NoError(t, json.Unmarshal(blob, &cache))
	var out []string
	for kind, entries := range cache {
		if kind != "RefreshToken" && kind != "AccessToken" {
			continue
		}
		for _, e := range entries {
			if s, ok := e["secret"].(string); ok && s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// assertNoSecretInHistories searches every event of every run, as raw proto
// bytes (JSON would base64 the payloads), for every collected secret; kinds
// names those that must have been collected. As a positive control, a marker
// planted in a signal payload must be found, and every run's payloads must
// read as plain JSON.
func assertNoSecretInHistories(t *testing.T, s *testenv.Stack, ss secretSet, kinds ...string) {
	t.Helper()
	ctx := context.Background()
	for _, k := range kinds {
		require.NotEmpty(t, ss[k], "no %s collected: the search would prove nothing about them", k)
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	marker := "planted-" + hex.EncodeToString(b)
	require.NoError(t, s.Client.SignalWorkflow(ctx, workflows.PartnerWorkflowID("acme"), "", "secret-search-control", marker))

	found, runs := 0, s.Executions()
	require.NotEmpty(t, runs)
	for _, ex := range runs {
		readable := false
		for _, ev := range s.History(ex).Events {
			raw, err := proto.Marshal(ev)
			require.NoError(t, err)
			readable = readable || bytes.Contains(raw, []byte(`"PartnerID":"acme"`))
			if bytes.Contains(raw, []byte(marker)) {
				found++
			}
			for kind, values := range ss {
				for _, v := range values {
					require.False(t, bytes.Contains(raw, []byte(v)), "%s in %s run %s, event %d (%s)",
						kind, ex.Execution.WorkflowId, ex.Execution.RunId, ev.EventId, ev.EventType)
				}
			}
		}
		assert.True(t, readable, "payloads of %s are plain JSON, so the search can see secrets in them", ex.Execution.WorkflowId)
	}
	require.Equal(t, 1, found, "the planted marker is found where it was planted")
	n := 0
	for _, values := range ss {
		n += len(values)
	}
	t.Logf("searched %d runs for %d secrets", len(runs), n)
}
