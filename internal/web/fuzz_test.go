package web_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/config"
	"github.com/cspsync/cspsync/internal/control"
	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/service"
	"github.com/cspsync/cspsync/internal/sim"
	"github.com/cspsync/cspsync/internal/testenv"
	"github.com/cspsync/cspsync/internal/text"
	"github.com/cspsync/cspsync/internal/web"
)

// FuzzCallbacks sends the sign-in and consent callbacks any query string,
// with the state either the fuzzer's own or a fresh one cspsync issued (so
// the input reaches past the state check), against real PostgreSQL,
// Temporal and the simulator, set up once per fuzzing process. "TENANT" in
// a query stands for the consent request's tenant id. Whatever comes in:
// no panic, no server error, and nothing stored, logged or shown holds a
// control character or more than its limit.
func FuzzCallbacks(f *testing.F) {
	h := newHarness(f)
	for _, seed := range []struct {
		consent, fresh bool
		query          string
	}{
		{false, true, "error=%1B%5D0%3Bpwned%07%1B%5B2J&error_description=%1B%5B2J%E2%80%AEevil%0D%0Aline"},
		{false, true, "code=not-a-code"},
		{false, true, ""},
		{false, false, "state=forged&code=x"},
		{true, true, "error=access_denied&error_description=AADSTS65004%3A+User+declined+to+consent."},
		{true, true, "admin_consent=True&tenant=TENANT"},
		{true, true, "admin_consent=True&tenant=00000000-0000-0000-0000-000000000000"},
		{true, false, "state=%00%FF&error=%C2%9B31m"},
	} {
		f.Add(seed.consent, seed.fresh, seed.query)
	}
	f.Fuzz(func(t *testing.T, consent, fresh bool, query string) {
		path := config.CallbackPath
		if consent {
			path = config.ConsentCallbackPath
		}
		query = strings.ReplaceAll(query, "TENANT", h.tenant)
		if fresh { // the first state in the query is the one read
			query = "state=" + url.QueryEscape(h.state(t, consent)) + "&" + query
		}
		r := httptest.NewRequest(http.MethodGet, h.publicURL+path, nil)
		r.URL.RawQuery = query
		h.log.Reset()
		w := httptest.NewRecorder()
		h.handler.ServeHTTP(w, r)

		if w.Code >= 500 && w.Code != http.StatusBadGateway {
			t.Fatalf("%s?%s: %d\n%s", path, query, w.Code, w.Body)
		}
		inert(t, "page", w.Body.String())
		inert(t, "log", h.log.String())
		errs, err := h.ctl.Errors(context.Background(), "", true)
		if err != nil {
			t.Fatal(err)
		}
		if len(errs) > 0 { // the newest, which this callback may have recorded
			e := errs[0]
			for _, s := range []struct {
				v   string
				max int
			}{{e.Code, text.MaxCode}, {e.Message, text.MaxMessage}, {e.Remediation, text.MaxMessage}} {
				if len(s.v) > s.max || text.Clean(s.v, s.max) != s.v {
					t.Fatalf("stored %q: not clean or longer than %d", s.v, s.max)
				}
			}
		}
	})
}

type harness struct {
	ctl       *control.Control
	handler   http.Handler
	log       *bytes.Buffer
	publicURL string
	tenant    string // a GDAP tenant waiting for consent
	connect   control.ConnectRequest
}

// newHarness connects a partner to the simulator, signs it in and lets the
// worker discover its tenants; the callbacks are then served by a web
// server of their own.
func newHarness(f *testing.F) *harness {
	t := testenv.FuzzSetup(f)
	ctx := context.Background()
	sc := sim.Generate(sim.GenerateOptions{Seed: 9, Tenants: 2, GDAP: 2})
	s := testenv.NewStack(t, sc, sim.Options{})
	stopWorker := s.StartWorker()
	ctl := service.Open(s.Worker.Connection)
	t.Cleanup(ctl.Close)
	h := &harness{ctl: ctl, log: &bytes.Buffer{}, publicURL: s.Worker.PublicURL, tenant: sc.Tenants[0].ID,
		connect: control.ConnectRequest{PartnerConfig: control.PartnerConfig{ID: "acme", PartnerTenantID: sc.PartnerTenantID,
			PCClientID: sim.DefaultPCClientID, PCClientSecret: sim.DefaultPCSecret, GraphClientID: sim.DefaultGraphClientID,
			GraphClientSecret: sim.DefaultGraphSecret, AuthorityURL: s.Sim.URL(), PartnerCenterURL: s.Sim.URL(), GraphURL: s.Sim.URL(),
			DefaultRelationship: domain.GDAP}, DiscoveryHeartbeat: 30 * time.Second, TenantSyncInterval: time.Hour}}
	res, err := ctl.Connect(ctx, h.connect)
	require.NoError(t, err)
	back, err := sim.SignIn(ctx, s.HTTP, res.AuthorizeURL, sim.DefaultAdminUPN, sim.DefaultAdminPassword, sim.DefaultMFACode)
	require.NoError(t, err)
	status, page := s.FollowRedirect(back.String())
	require.Equal(t, http.StatusOK, status, page)
	require.Eventually(t, func() bool {
		cs, err := ctl.Customers(ctx, "acme", true)
		return err == nil && len(cs) == len(sc.Tenants)
	}, time.Minute, 50*time.Millisecond)
	stopWorker() // the fuzzed callbacks go to the handler below, nothing runs behind them
	h.handler, err = (&web.Server{Control: ctl, Log: slog.New(slog.NewTextHandler(h.log, nil)), PublicURL: s.Worker.PublicURL,
		ListenAddr: s.Worker.HTTPAddr}).Handler()
	require.NoError(t, err)
	return h
}

// state issues a fresh single-use state of the callback's kind.
func (h *harness) state(t *testing.T, consent bool) string {
	link := ""
	var err error
	if consent {
		var l control.ConsentLink
		l, _, err = h.ctl.ConsentURL(context.Background(), h.tenant)
		link = l.URL
	} else {
		var res control.Connected
		res, err = h.ctl.Connect(context.Background(), h.connect)
		link = res.AuthorizeURL
	}
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("state")
}

func inert(t *testing.T, what, s string) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Fatalf("%s is not valid UTF-8: %q", what, s)
	}
	for _, r := range s {
		if r != '\n' && text.Unsafe(r) {
			t.Fatalf("%s holds %U: %q", what, r, s)
		}
	}
}
