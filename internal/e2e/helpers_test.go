// Package e2e runs cspsync end to end: the real CLI and worker code, a real
// Temporal dev server, a real PostgreSQL and the Microsoft simulator over
// HTTPS with the real MSAL client.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/cli"
	"github.com/cspsync/cspsync/internal/sim"
	"github.com/cspsync/cspsync/internal/testenv"
	"github.com/cspsync/cspsync/workflows"
)

// runCLI runs `cspsync args...` in-process against the stack and returns
// what it printed (stdout, then stderr).
func runCLI(t *testing.T, s *testenv.Stack, args ...string) (string, error) {
	t.Helper()
	out, errOut, err := runCLISplit(t, s, args...)
	return out + errOut, err
}

func runCLISplit(t *testing.T, s *testenv.Stack, args ...string) (string, string, error) {
	t.Helper()
	app := cli.New()
	var out, errOut bytes.Buffer
	app.Writer, app.ErrWriter = &out, &errOut
	global := []string{"cspsync", "--database-url", s.Worker.DatabaseURL, "--encryption-key", s.Worker.EncryptionKey,
		"--temporal-address", s.Worker.TemporalAddress, "--task-queue", s.Worker.TaskQueue}
	err := app.RunContext(context.Background(), append(global, args...))
	return out.String(), errOut.String(), err
}

type connectOpts struct {
	partner, pcSecret, relationship string
	heartbeat                       time.Duration
}

// connect runs `cspsync connect` for the simulator's partner and returns the sign-in link.
func connect(t *testing.T, s *testenv.Stack, o connectOpts) string {
	t.Helper()
	if o.pcSecret == "" {
		o.pcSecret = sim.DefaultPCSecret
	}
	if o.relationship == "" {
		o.relationship = "DAP"
	}
	if o.heartbeat == 0 {
		o.heartbeat = 30 * time.Second
	}
	out, errOut, err := runCLISplit(t, s, "connect", "--partner", o.partner, "--json", "--ca-file", s.Sim.CAFile(),
		"--public-url", s.Worker.PublicURL, "--partner-tenant", s.Scenario.PartnerTenantID,
		"--pc-client-id", sim.DefaultPCClientID, "--pc-client-secret", o.pcSecret,
		"--graph-client-id", sim.DefaultGraphClientID, "--graph-client-secret", sim.DefaultGraphSecret,
		"--authority-url", s.Sim.URL(), "--partner-center-url", s.Sim.URL(), "--graph-url", s.Sim.URL(),
		"--default-relationship", o.relationship, "--discovery-heartbeat", o.heartbeat.String())
	require.NoError(t, err, errOut)
	var res struct{ AuthorizeURL string }
	require.NoError(t, json.Unmarshal([]byte(out), &res), out)
	require.NotEmpty(t, res.AuthorizeURL)
	return res.AuthorizeURL
}

// signIn completes the simulator's sign-in (password + MFA) and delivers the
// redirect to the worker's callback; it returns the callback's status and page.
func signIn(t *testing.T, s *testenv.Stack, authorizeURL string) (int, string, string) {
	t.Helper()
	redirect, err := sim.SignIn(context.Background(), s.HTTP, authorizeURL, sim.DefaultAdminUPN, sim.DefaultAdminPassword, sim.DefaultMFACode)
	require.NoError(t, err)
	status, body := s.FollowRedirect(redirect.String())
	return status, body, redirect.String()
}

// waitPartner polls the partner workflow until cond holds.
func waitPartner(t *testing.T, s *testenv.Stack, partner string, d time.Duration, cond func(workflows.PartnerState) bool) workflows.PartnerState {
	t.Helper()
	var last workflows.PartnerState
	require.Eventually(t, func() bool {
		st, err := workflows.QueryPartner(context.Background(), s.Client, partner)
		if err != nil {
			return false
		}
		last = st
		return cond(st)
	}, d, 100*time.Millisecond, "partner workflow never reached the expected state; last: %+v", last)
	return last
}

// tokenRequests counts every token endpoint call the simulator has seen.
func tokenRequests(s *testenv.Stack) int {
	n := 0
	for _, byClient := range s.Sim.Stats().TokenRequests {
		for _, c := range byClient {
			n += c
		}
	}
	return n
}
