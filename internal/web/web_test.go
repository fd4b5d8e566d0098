package web_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/config"
	"github.com/cspsync/cspsync/internal/control"
	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/microsoft"
	"github.com/cspsync/cspsync/internal/sim"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/testenv"
	"github.com/cspsync/cspsync/internal/web"
)

// site is the worker's web server on PostgreSQL and the simulator, without
// Temporal: enough for sign-in, sessions and the form checks.
type site struct {
	t   *testing.T
	url string
	sim *sim.Server
	sc  sim.Scenario
	hc  *http.Client // trusts the simulator; keeps cookies; does not follow redirects
	ctl *control.Control
}

func newSite(t *testing.T, operators config.Operators) *site {
	t.Helper()
	sc := sim.Generate(sim.GenerateOptions{Seed: 21, Tenants: 2, GDAP: 1, UsersPerTenant: 1})
	srv, err := sim.New(sc, sim.Options{StateDir: t.TempDir()})
	require.NoError(t, err)
	require.NoError(t, srv.Start())
	t.Cleanup(func() { _ = srv.Close() })
	st, _, _ := testenv.Store(t)
	ctx := context.Background()
	require.NoError(t, st.UpsertPartner(ctx, store.PartnerConfig{ID: "acme", DisplayName: "Acme", PartnerTenantID: sc.PartnerTenantID,
		PCClientID: sim.DefaultPCClientID, PCClientSecret: sim.DefaultPCSecret, GraphClientID: sim.DefaultGraphClientID,
		GraphClientSecret: sim.DefaultGraphSecret, AuthorityURL: srv.URL(), PartnerCenterURL: srv.URL(), GraphURL: srv.URL(),
		DefaultRelationship: domain.GDAP}))
	var tenants []store.DiscoveredTenant
	for _, tn := range sc.Tenants {
		tenants = append(tenants, store.DiscoveredTenant{TenantID: tn.ID, Name: tn.Name, Domain: tn.Domain})
	}
	_, err = st.SaveDiscoveryPage(ctx, "acme", "", "", tenants)
	require.NoError(t, err)

	hc, err := microsoft.NewHTTPClient(srv.CAFile())
	require.NoError(t, err)
	hc.Jar, _ = cookiejar.New(nil)
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	ts := httptest.NewUnstartedServer(nil)
	base := "http://" + ts.Listener.Addr().String()
	cfg := config.Worker{Connection: config.Connection{PublicURL: base, CAFile: srv.CAFile()}, HTTPAddr: ts.Listener.Addr().String(), Operators: operators}
	ctl := control.New(cfg, st, &microsoft.Auth{HTTP: hc, Cache: st}, nil)
	h, err := (&web.Server{Control: ctl, Log: slog.New(slog.DiscardHandler), PublicURL: base, ListenAddr: cfg.HTTPAddr}).Handler()
	require.NoError(t, err)
	ts.Config.Handler = h
	ts.Start()
	t.Cleanup(ts.Close)
	return &site{t: t, url: base, sim: srv, sc: sc, hc: hc, ctl: ctl}
}

func (s *site) do(method, path string, form url.Values, header http.Header) (*http.Response, string) {
	s.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	target := path
	if strings.HasPrefix(path, "/") {
		target = s.url + path
	}
	req, err := http.NewRequest(method, target, body)
	require.NoError(s.t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := s.hc.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// signIn signs upn in through the simulator and returns the callback's answer.
func (s *site) signIn(upn string) (*http.Response, string) {
	s.t.Helper()
	resp, _ := s.do(http.MethodGet, "/auth/operator/login", nil, nil)
	require.Equal(s.t, http.StatusFound, resp.StatusCode)
	redirect, err := s.sim.SignInAs(context.Background(), s.hc, resp.Header.Get("Location"), upn)
	require.NoError(s.t, err)
	return s.do(http.MethodGet, redirect.String(), nil, nil)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func cookie(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func TestOperatorSignInSessionAndCSRF(t *testing.T) {
	s := newSite(t, everyone)
	origin := http.Header{"Origin": {s.url}}

	// Anonymous: the page sends to sign-in, a form post is refused.
	resp, _ := s.do(http.MethodGet, "/", nil, nil)
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode)
	assert.Equal(t, "/auth/operator/login", resp.Header.Get("Location"))
	gdap := s.sc.Tenants[1].ID
	resp, body := s.do(http.MethodPost, "/consent/start", url.Values{"tenant": {gdap}}, origin)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Contains(t, body, "signed-in operator")

	// The sign-in starts with a sealed, HttpOnly cookie and ends with a session cookie.
	resp, _ = s.do(http.MethodGet, "/auth/operator/login", nil, nil)
	pending := cookie(resp, "cspsync_sign_in")
	require.NotNil(t, pending)
	assert.True(t, pending.HttpOnly)
	authorize, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	q := authorize.Query()
	assert.Equal(t, s.url+"/auth/operator/callback", q.Get("redirect_uri"))
	assert.Equal(t, "S256", q.Get("code_challenge_method"))
	assert.NotEmpty(t, q.Get("nonce"))
	assert.NotContains(t, pending.Value, q.Get("state"), "the pending sign-in is sealed")

	redirect, err := s.sim.SignInAs(context.Background(), s.hc, authorize.String(), sim.DefaultOperatorUPN)
	require.NoError(t, err)
	resp, body = s.do(http.MethodGet, redirect.String(), nil, nil)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
	session := cookie(resp, "cspsync_session")
	require.NotNil(t, session)
	assert.True(t, session.HttpOnly)
	assert.False(t, session.Secure, "plain http: a Secure cookie would never come back")
	assert.Equal(t, http.SameSiteLaxMode, session.SameSite)
	assert.Equal(t, int(control.OperatorSessionTTL.Seconds()), session.MaxAge)
	assert.Equal(t, -1, cookie(resp, "cspsync_sign_in").MaxAge, "the pending sign-in is cleared")

	// The same callback again: the browser no longer holds the sign-in.
	resp, body = s.do(http.MethodGet, redirect.String(), nil, nil)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, body, "not started in this browser")

	resp, page := s.do(http.MethodGet, "/tenants", nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, page, sim.DefaultOperatorUPN)
	m := csrfRE.FindStringSubmatch(page)
	require.NotNil(t, m, page)
	csrf := m[1]
	// Another token of the same shape: its first character changed (a fixed
	// "x" was the token itself whenever the token began with one).
	wrong := "x" + csrf[1:]
	if csrf[0] == 'x' {
		wrong = "y" + csrf[1:]
	}

	// A post without the token, with another session's token, or from another origin is refused.
	for name, c := range map[string]struct {
		form   url.Values
		header http.Header
	}{
		"no token":         {url.Values{"tenant": {gdap}}, origin},
		"wrong token":      {url.Values{"tenant": {gdap}, "csrf": {wrong}}, origin},
		"other origin":     {url.Values{"tenant": {gdap}, "csrf": {csrf}}, http.Header{"Origin": {"https://evil.example"}}},
		"null origin":      {url.Values{"tenant": {gdap}, "csrf": {csrf}}, http.Header{"Origin": {"null"}}},
		"no origin at all": {url.Values{"tenant": {gdap}, "csrf": {csrf}}, nil},
	} {
		resp, body := s.do(http.MethodPost, "/consent/start", c.form, c.header)
		assert.Equal(t, http.StatusForbidden, resp.StatusCode, "%s: %s", name, body)
	}
	links := func() int {
		resp, page := s.do(http.MethodGet, "/tenants", nil, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		return strings.Count(page, "A link issued earlier")
	}
	assert.Zero(t, links(), "refused posts created no consent link")

	// With both, the operator is sent to Microsoft's admin consent for the tenant.
	resp, _ = s.do(http.MethodPost, "/consent/start", url.Values{"tenant": {gdap}, "csrf": {csrf}}, origin)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("Location"), "/"+gdap+"/v2.0/adminconsent?")
	resp, _ = s.do(http.MethodPost, "/consent/start", url.Values{"tenant": {gdap}, "csrf": {csrf}}, http.Header{"Referer": {s.url + "/"}})
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode, "a same-origin Referer stands in for a missing Origin")
	assert.Equal(t, 1, links(), "a new link replaced the earlier one")

	// Signing out ends the session on the server, not only in this browser.
	resp, _ = s.do(http.MethodPost, "/auth/operator/logout", url.Values{"csrf": {csrf}}, origin)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, _ = s.do(http.MethodGet, "/", nil, http.Header{"Cookie": {"cspsync_session=" + session.Value}})
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode)
}

// A browser that sends Microsoft's answer twice (a reload before the first
// answer cleared the pending sign-in, a second tab) meets AADSTS54005: the
// operator is told to sign in again at this page, not to run the partner's
// `cspsync connect`.
func TestReplayedOperatorSignInSaysToSignInAgainHere(t *testing.T) {
	s := newSite(t, everyone)
	resp, _ := s.do(http.MethodGet, "/auth/operator/login", nil, nil)
	pending := cookie(resp, "cspsync_sign_in")
	require.NotNil(t, pending)
	redirect, err := s.sim.SignInAs(context.Background(), s.hc, resp.Header.Get("Location"), sim.DefaultOperatorUPN)
	require.NoError(t, err)
	resp, body := s.do(http.MethodGet, redirect.String(), nil, nil)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)

	resp, body = s.do(http.MethodGet, redirect.String(), nil, http.Header{"Cookie": {"cspsync_sign_in=" + pending.Value}})
	assert.Equal(t, http.StatusBadGateway, resp.StatusCode)
	assert.Contains(t, body, "AADSTS54005")
	assert.Contains(t, body, "tenants page again and sign in")
	assert.NotContains(t, body, "cspsync connect")
}

func TestAllowListRefusesOutsidersAndAdmitsTheGroup(t *testing.T) {
	s := newSite(t, config.Operators{Group: sim.DefaultOperatorsGroupID})
	resp, body := s.signIn(sim.DefaultOutsiderUPN)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Contains(t, body, sim.DefaultOutsiderUPN+" is neither listed in CSPSYNC_OPERATORS nor a member")
	assert.Nil(t, cookie(resp, "cspsync_session"))
	resp, _ = s.do(http.MethodGet, "/", nil, nil)
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode)

	resp, body = s.signIn(sim.DefaultOperatorUPN)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
	resp, _ = s.do(http.MethodGet, "/tenants", nil, nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestAllowListByUserPrincipalName(t *testing.T) {
	s := newSite(t, config.Operators{UPNs: []string{strings.ToUpper(sim.DefaultOutsiderUPN)}})
	resp, body := s.signIn(sim.DefaultOperatorUPN)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, body)
	resp, body = s.signIn(sim.DefaultOutsiderUPN)
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
}

func TestBehindAnHTTPSProxyThePublicURLDecides(t *testing.T) {
	s := newSite(t, everyone)
	h, err := (&web.Server{Control: s.ctl, Log: slog.New(slog.DiscardHandler), PublicURL: "https://cspsync.example.com", ListenAddr: "0.0.0.0:8400"}).Handler()
	require.NoError(t, err)
	serve := func(host string, header http.Header) *http.Response {
		req := httptest.NewRequest(http.MethodGet, "http://"+host+"/auth/operator/login", nil)
		for k, v := range header {
			req.Header[k] = v
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Result()
	}
	// The proxy speaks plain http to the worker; cookies are still Secure and bound to the host.
	resp := serve("cspsync.example.com", nil)
	require.Equal(t, http.StatusFound, resp.StatusCode)
	c := cookie(resp, "__Host-cspsync_sign_in")
	require.NotNil(t, c, "cookies: %v", resp.Header.Values("Set-Cookie"))
	assert.True(t, c.Secure)
	assert.Equal(t, "/", c.Path)
	assert.Equal(t, http.StatusFound, serve("CSPSYNC.example.com:443", nil).StatusCode)

	// X-Forwarded-Host is not trusted: the Host header must name the public host.
	resp = serve("evil.example", http.Header{"X-Forwarded-Host": {"cspsync.example.com"}})
	assert.Equal(t, http.StatusMisdirectedRequest, resp.StatusCode)
	b, _ := io.ReadAll(resp.Body)
	assert.Contains(t, string(b), "answers for https://cspsync.example.com only")
	assert.Equal(t, http.StatusMisdirectedRequest, serve("0.0.0.0:8400", nil).StatusCode, "all interfaces is no host name")
}

// An anonymous operator who opens a page is signed in and lands on it; a
// return address that would leave the site (or loop into the sign-in) lands
// on the overview instead.
func TestSignInReturnsToTheRequestedPage(t *testing.T) {
	s := newSite(t, everyone)
	signInFrom := func(login string) string {
		t.Helper()
		resp, _ := s.do(http.MethodGet, login, nil, nil)
		require.Equal(t, http.StatusFound, resp.StatusCode, login)
		redirect, err := s.sim.SignInAs(context.Background(), s.hc, resp.Header.Get("Location"), sim.DefaultOperatorUPN)
		require.NoError(t, err)
		resp, body := s.do(http.MethodGet, redirect.String(), nil, nil)
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
		assert.Equal(t, -1, cookie(resp, "cspsync_return").MaxAge, "the return address is cleared")
		s.hc.Jar, _ = cookiejar.New(nil) // signed out again for the next case
		return resp.Header.Get("Location")
	}

	resp, _ := s.do(http.MethodGet, "/customers/7?uq=ann+lee&ustate=active", nil, nil)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	login := resp.Header.Get("Location")
	assert.Equal(t, "/auth/operator/login?next=%2Fcustomers%2F7%3Fuq%3Dann%2Blee%26ustate%3Dactive", login)
	assert.Equal(t, "/customers/7?uq=ann+lee&ustate=active", signInFrom(login))

	for _, next := range []string{"//evil.example/x", "/\\evil.example", "/\\/evil.example", "https://evil.example/", "http:/evil.example",
		"javascript:alert(1)", "evil.example", "/auth/operator/login", "/customers\r\nSet-Cookie: x=1", "/" + strings.Repeat("a", 3000), ""} {
		assert.Equal(t, "/", signInFrom("/auth/operator/login?"+url.Values{"next": {next}}.Encode()), "%q", next)
	}
	// A return address forged in the cookie is checked again.
	resp, _ = s.do(http.MethodGet, "/auth/operator/login", nil, nil)
	require.Equal(t, http.StatusFound, resp.StatusCode)
	u, _ := url.Parse(s.url)
	s.hc.Jar.SetCookies(u, []*http.Cookie{{Name: "cspsync_return", Value: url.QueryEscape("//evil.example"), Path: "/"}})
	redirect, err := s.sim.SignInAs(context.Background(), s.hc, resp.Header.Get("Location"), sim.DefaultOperatorUPN)
	require.NoError(t, err)
	resp, _ = s.do(http.MethodGet, redirect.String(), nil, nil)
	assert.Equal(t, "/", resp.Header.Get("Location"))
}

// everyone is the explicit setting that every user of the partner's tenant
// is an operator, for tests that are not about the allow-list.
var everyone = config.Operators{EveryoneInPartnerTenant: true}

// A worker given no allow-list, and not told that everyone in the partner's
// tenant is an operator, serves no operator page: the sign-in does not start,
// and the page names the settings that open it.
func TestWithoutAnAllowListThePagesAdmitNoOne(t *testing.T) {
	s := newSite(t, config.Operators{})
	resp, body := s.do(http.MethodGet, "/auth/operator/login", nil, nil)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, body)
	assert.Nil(t, cookie(resp, "cspsync_sign_in"), "no sign-in started")
	assert.Contains(t, body, "Operator pages closed")
	for _, setting := range []string{"CSPSYNC_OPERATORS", "CSPSYNC_OPERATOR_GROUP", "CSPSYNC_OPERATORS_EVERYONE_IN_PARTNER_TENANT=true"} {
		assert.Contains(t, body, setting)
	}
	resp, _ = s.do(http.MethodGet, "/", nil, nil)
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode, "the console sends to the sign-in, which refuses")
}
