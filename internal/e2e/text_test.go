package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"
	"regexp"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/config"
	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/sim"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/testenv"
	"github.com/cspsync/cspsync/internal/text"
)

// assertInert fails when s holds an unsafe rune other than a newline.
func assertInert(t *testing.T, what, s string) {
	t.Helper()
	assert.True(t, utf8.ValidString(s), "%s: valid UTF-8", what)
	for _, r := range s {
		if r != '\n' && text.Unsafe(r) {
			t.Errorf("%s holds %U: %q", what, r, s)
			return
		}
	}
}

// A browser can put anything in a callback's error and error_description.
// The worker answers with the refusal page (502), never a 500; what it
// records is clean and bounded, and `cspsync errors list` prints it inert.
func TestHostileCallbackErrorIsStoredCleanAndPrintedInert(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 5, Tenants: 1, GDAP: 1})
	s := testenv.NewStack(t, sc, sim.Options{})
	s.StartWorker()
	ctx := context.Background()
	random := make([]byte, 4000)
	_, _ = rand.Read(random)
	long := hex.EncodeToString(random) // does not compress, as an attacker's text would not
	escapes := "\x1b]0;pwned\x07\x1b[2J"

	callback := func(link, path, errValue string) {
		t.Helper()
		u, err := url.Parse(link)
		require.NoError(t, err)
		q := url.Values{"state": {u.Query().Get("state")}, "error": {errValue}, "error_description": {errValue + "\r\n\u202e" + errValue}}
		status, page := s.FollowRedirect(s.Worker.PublicURL + path + "?" + q.Encode())
		assert.Equal(t, http.StatusBadGateway, status, "Microsoft's refusal, not a server error: %.300s", page)
		assertInert(t, "page", page)
	}
	// The partner's sign-in.
	for _, v := range []string{escapes, long} {
		callback(connect(t, s, connectOpts{partner: "acme"}), config.CallbackPath, v)
	}
	// A tenant admin's consent.
	authorise(t, s, connectOpts{relationship: "GDAP"})
	tenant := sc.Tenants[0].ID
	waitTenants(t, s, 30*time.Second, func(ts map[string]store.Customer) bool { return ts[tenant].SyncState == domain.TenantAwaitingConsent })
	for _, v := range []string{escapes, long} {
		out, err := runCLI(t, s, "consent", "url", tenant)
		require.NoError(t, err, out)
		callback(regexp.MustCompile(`https://\S+`).FindString(out), config.ConsentCallbackPath, v)
	}

	errs, err := s.Store.ListErrors(ctx, "acme", true)
	require.NoError(t, err)
	require.Len(t, errs, 4, "one row per refusal")
	for _, e := range errs {
		assert.LessOrEqual(t, len(e.Code), text.MaxCode)
		for _, v := range []string{e.Code, e.Message, e.Remediation} {
			assert.Equal(t, text.Clean(v, len(v)), v, "stored clean")
		}
	}
	for _, args := range [][]string{{"errors", "list", "--all"}, {"errors", "list", "--all", "--json"}, {"status"}} {
		out, err := runCLI(t, s, args...)
		require.NoError(t, err, out)
		assertInert(t, args[len(args)-1], out)
		if args[0] == "errors" {
			assert.Contains(t, out, "]0;pwned[2J", "shown, made inert")
		}
	}
}
