package e2e

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/config"
	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/sim"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/testenv"
)

// call sends a request to the worker's HTTP server without following redirects.
func call(t *testing.T, s *testenv.Stack, hc *http.Client, method, target string, form url.Values, edit func(*http.Request)) (*http.Response, string) {
	t.Helper()
	if hc == nil {
		c := *s.HTTP
		hc = &c
	}
	c := *hc
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	if strings.HasPrefix(target, "/") {
		target = s.Worker.PublicURL + target
	}
	req, err := http.NewRequest(method, target, body)
	require.NoError(t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if edit != nil {
		edit(req)
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// operatorSession signs upn in to the worker's pages without a browser and
// returns a client holding the session cookie, and the session's CSRF token.
func operatorSession(t *testing.T, s *testenv.Stack, upn string) (*http.Client, string) {
	t.Helper()
	hc := *s.HTTP
	hc.Jar, _ = cookiejar.New(nil)
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, _ := call(t, s, &hc, http.MethodGet, "/auth/operator/login", nil, nil)
	require.Equal(t, http.StatusFound, resp.StatusCode)
	redirect, err := s.Sim.SignInAs(context.Background(), &hc, resp.Header.Get("Location"), upn)
	require.NoError(t, err)
	resp, page := call(t, s, &hc, http.MethodGet, redirect.String(), nil, nil)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, page)
	resp, page = call(t, s, &hc, http.MethodGet, "/", nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, page)
	m := csrfField.FindStringSubmatch(page)
	require.NotNil(t, m, page)
	return &hc, m[1]
}

func consentLinks(t *testing.T, s *testenv.Stack) int {
	t.Helper()
	var n int
	require.NoError(t, s.Store.Pool().QueryRow(context.Background(), `SELECT count(*) FROM auth_requests WHERE kind = 'consent'`).Scan(&n))
	return n
}

func TestAnonymousBrowserGetsNoPageAndOutsidersAreRefused(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 31, Tenants: 2, GDAP: 2, UsersPerTenant: 1})
	s := testenv.NewStack(t, sc, sim.Options{})
	s.Worker.Operators = config.Operators{Group: sim.DefaultOperatorsGroupID}
	s.StartWorker()
	authorise(t, s, connectOpts{relationship: "GDAP"})
	gdap := sc.Tenants[0]
	origin := func(r *http.Request) { r.Header.Set("Origin", s.Worker.PublicURL) }
	checked, _ := runCLI(t, s, "check")
	assert.Contains(t, checked, "✓ operator pages admit the members of the group "+sim.DefaultOperatorsGroupID, "check shows the rule in force")

	// An anonymous browser asking for the tenants page lands on the partner tenant's sign-in.
	ctx := testenv.Browser(t, s.Sim.CAFile())
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(s.Worker.PublicURL+"/"), chromedp.WaitVisible(chromedp.CSS(`input[name="login"]`))))
	loc, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(loc, s.Sim.URL()+"/"+sc.PartnerTenantID+"/oauth2/v2.0/authorize?"), loc)
	assert.Contains(t, loc, "client_id="+sim.DefaultPCClientID)

	// Anonymous requests start nothing; the old GET link is gone.
	resp, page := call(t, s, nil, http.MethodPost, "/consent/start", url.Values{"tenant": {gdap.ID}}, origin)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Contains(t, page, "Only a signed-in operator may do this.")
	resp, _ = call(t, s, nil, http.MethodGet, "/consent/start?tenant="+gdap.ID, nil, nil)
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	assert.Zero(t, consentLinks(t, s))

	// A user of the partner tenant outside the operators group signs in and is refused.
	require.NoError(t, chromedp.Do(ctx, append(operatorSignIn(sim.DefaultOutsiderUPN),
		chromedp.WaitVisible(`//h1[normalize-space()="Not an operator of cspsync"]`))...))
	body, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	require.NoError(t, err)
	assert.Contains(t, body, sim.DefaultOutsiderUPN+" is neither listed in CSPSYNC_OPERATORS nor a member of the group CSPSYNC_OPERATOR_GROUP names")
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(s.Worker.PublicURL+"/"), chromedp.WaitVisible(chromedp.CSS(`input[name="login"]`))))

	// A signed-in operator's form without the session's token, or from another site, starts nothing.
	hc, csrf := operatorSession(t, s, sim.DefaultOperatorUPN)
	resp, page = call(t, s, hc, http.MethodPost, "/consent/start", url.Values{"tenant": {gdap.ID}}, origin)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, page)
	resp, page = call(t, s, hc, http.MethodPost, "/consent/start", url.Values{"tenant": {gdap.ID}, "csrf": {csrf}},
		func(r *http.Request) { r.Header.Set("Origin", "https://attacker.example") })
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, page)
	assert.Zero(t, consentLinks(t, s))

	// With both, it sends the operator to Microsoft's admin consent for the tenant.
	resp, _ = call(t, s, hc, http.MethodPost, "/consent/start", url.Values{"tenant": {gdap.ID}, "csrf": {csrf}}, origin)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	assert.True(t, strings.HasPrefix(resp.Header.Get("Location"), s.Sim.URL()+"/"+gdap.ID+"/v2.0/adminconsent?"), resp.Header.Get("Location"))
	assert.Equal(t, 1, consentLinks(t, s))
	resp, page = call(t, s, hc, http.MethodGet, "/tenants", nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, page, "A link issued earlier works until ", "the page shows when the live link expires")
}

func TestConsentCallbackIsProvenWithMicrosoft(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 32, Tenants: 2, GDAP: 2, UsersPerTenant: 1})
	s := testenv.NewStack(t, sc, sim.Options{})
	s.StartWorker()
	ctx := context.Background()
	authorise(t, s, connectOpts{relationship: "GDAP"})
	a, b := sc.Tenants[0], sc.Tenants[1]
	waitTenants(t, s, 30*time.Second, func(ts map[string]store.Customer) bool {
		return allIn(ts, domain.TenantAwaitingConsent, sc.Tenants...)
	})
	callback := func(method string, q url.Values) (*http.Response, string) {
		return call(t, s, nil, method, "/consent/callback?"+q.Encode(), nil, nil)
	}
	consentErrors := func() []store.IntegrationError {
		errs, err := s.Store.ListErrors(ctx, "acme", false)
		require.NoError(t, err)
		return errs
	}

	// A forged callback (a state cspsync never issued) records nothing and says why.
	before := tokenRequests(s)
	resp, page := callback(http.MethodGet, url.Values{"state": {"forged"}, "admin_consent": {"True"}, "tenant": {a.ID}})
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, page, "unknown state")
	assert.Equal(t, before, tokenRequests(s), "Microsoft was not even asked")
	assert.Empty(t, consentErrors())

	// The CLI's link says until when it works; a new link replaces the old.
	link := func() url.Values {
		out, err := runCLI(t, s, "consent", "url", "--public-url", s.Worker.PublicURL, a.ID)
		require.NoError(t, err, out)
		assert.Regexp(t, `works once, until \d{4}-\d\d-\d\d \d\d:\d\d UTC; it replaces any earlier link`, out)
		u, err := url.Parse(strings.TrimSpace(out[strings.Index(out, "https://"):]))
		require.NoError(t, err)
		return url.Values{"state": {u.Query().Get("state")}, "admin_consent": {"True"}, "tenant": {a.ID}}
	}
	first, q := link(), link()
	resp, page = callback(http.MethodGet, first)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, page, "unknown state", "the second link replaced the first")

	// An answer naming another tenant is refused without using the link up; HEAD does nothing.
	wrong := url.Values{"state": q["state"], "admin_consent": {"True"}, "tenant": {b.ID}}
	resp, page = callback(http.MethodGet, wrong)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, page, "the link stays valid")
	resp, _ = callback(http.MethodHead, q)
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	assert.Equal(t, before, tokenRequests(s))

	// The callback claims a consent the tenant's admin never gave: Microsoft disagrees, the
	// tenant stays pending and the page says why.
	resp, page = callback(http.MethodGet, q)
	assert.Equal(t, http.StatusConflict, resp.StatusCode, page)
	assert.Contains(t, page, "Microsoft does not confirm the admin consent")
	assert.Contains(t, page, "AADSTS7000229")
	assert.Contains(t, page, "consent stays pending")
	assert.Greater(t, tokenRequests(s), before, "cspsync asked Microsoft")
	cu, err := s.Store.GetCustomerByTenant(ctx, a.ID)
	require.NoError(t, err)
	assert.Equal(t, domain.ConsentPending, cu.ConsentState)
	assert.Equal(t, domain.TenantAwaitingConsent, cu.SyncState)
	errs := consentErrors()
	require.Len(t, errs, 1)
	assert.Equal(t, domain.OpConsent, errs[0].Operation)
	assert.Equal(t, a.ID, errs[0].TenantID)
	assert.Equal(t, "AADSTS7000229", errs[0].Code, "the tenants page shows it as the tenant's last error")

	// Once the admin has really consented, the same callback, reloaded, records it.
	require.NoError(t, s.Sim.GrantConsent(a.ID))
	resp, page = callback(http.MethodGet, q)
	require.Equal(t, http.StatusOK, resp.StatusCode, page)
	assert.Contains(t, page, "Admin consent granted")
	waitTenants(t, s, 30*time.Second, func(ts map[string]store.Customer) bool {
		return ts[a.ID].SyncState == domain.TenantReady && ts[b.ID].SyncState == domain.TenantAwaitingConsent
	})
	assert.Empty(t, consentErrors(), "the consent error is resolved")
	resp, page = callback(http.MethodGet, q)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, page, "already used")
}

func TestHostChecksHeadersHEADAndSizeLimits(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 33, Tenants: 1, UsersPerTenant: 1})
	s := testenv.NewStack(t, sc, sim.Options{})
	s.StartWorker()
	authorizeURL := connect(t, s, connectOpts{partner: "acme"})
	u, err := url.Parse(authorizeURL)
	require.NoError(t, err)
	state := u.Query().Get("state")
	withHost := func(host string) func(*http.Request) { return func(r *http.Request) { r.Host = host } }

	// Security headers on every answer, a redirect as much as a page.
	for _, target := range []string{"/", "/consent/callback?state=x"} {
		resp, page := call(t, s, nil, http.MethodGet, target, nil, nil)
		h := resp.Header
		assert.Equal(t, "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'", h.Get("Content-Security-Policy"), target)
		assert.Equal(t, "DENY", h.Get("X-Frame-Options"), target)
		assert.Equal(t, "nosniff", h.Get("X-Content-Type-Options"), target)
		assert.Equal(t, "same-origin", h.Get("Referrer-Policy"), target)
		assert.Equal(t, "no-store", h.Get("Cache-Control"), target)
		assert.NotContains(t, page, "<style", "no inline style: the policy would block it")
	}
	resp, css := call(t, s, nil, http.MethodGet, "/static/cspsync.css", nil, nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("Content-Type"), "text/css")
	assert.Contains(t, css, ".visually-hidden")

	// A Host other than the public URL's (DNS rebinding) is refused before anything runs;
	// the listen address itself is accepted.
	port := s.Worker.HTTPAddr[strings.LastIndex(s.Worker.HTTPAddr, ":")+1:]
	for _, target := range []string{"/", "/auth/callback?state=" + state + "&code=x"} {
		resp, page := call(t, s, nil, http.MethodGet, target, nil, withHost("attacker.example:"+port))
		assert.Equal(t, http.StatusMisdirectedRequest, resp.StatusCode, target)
		assert.Contains(t, page, "CSPSYNC_PUBLIC_URL")
	}
	resp, _ = call(t, s, nil, http.MethodGet, "/", nil, withHost(s.Worker.HTTPAddr))
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode)

	// HEAD runs no handler: not the callbacks, not the sign-in, not the page.
	for _, target := range []string{"/auth/callback?state=" + state + "&code=x", "/auth/operator/login", "/"} {
		resp, _ := call(t, s, nil, http.MethodHead, target, nil, nil)
		assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, target)
		assert.Empty(t, resp.Cookies(), target)
	}

	// Bodies and headers are bounded.
	resp, _ = call(t, s, nil, http.MethodPost, "/consent/start", url.Values{"tenant": {strings.Repeat("x", 64<<10)}}, nil)
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	resp, _ = call(t, s, nil, http.MethodGet, "/", nil, func(r *http.Request) { r.Header.Set("X-Padding", strings.Repeat("x", 64<<10)) })
	assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode)

	// None of it used the partner's sign-in state: the sign-in still completes.
	status, page, _ := signIn(t, s, authorizeURL)
	assert.Equal(t, http.StatusOK, status, page)
}

// A worker started with no allow-list, and not told that every user of the
// partner's tenant is an operator, serves no operator page, to the partner's
// admin either; check says so and how to open them.
func TestWorkerWithoutAnAllowListAdmitsNoOne(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 33, Tenants: 1, UsersPerTenant: 1})
	s := testenv.NewStack(t, sc, sim.Options{})
	s.Worker.Operators = config.Operators{}
	s.StartWorker()
	authorise(t, s, connectOpts{})

	resp, page := call(t, s, nil, http.MethodGet, "/auth/operator/login", nil, nil)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, page)
	assert.Contains(t, page, config.EnvOperatorsEveryone+"=true")
	resp, _ = call(t, s, nil, http.MethodGet, "/", nil, nil)
	assert.NotEqual(t, http.StatusOK, resp.StatusCode, "no page without a session")

	out, err := runCLI(t, s, "check")
	require.Error(t, err, out)
	assert.Contains(t, out, "✗ operator pages admit no one: no allow-list is configured")
	assert.Contains(t, out, config.EnvOperatorsEveryone)

	// Told explicitly, check shows that rule.
	s.Worker.Operators = config.Operators{EveryoneInPartnerTenant: true}
	out, _ = runCLI(t, s, "check")
	assert.Contains(t, out, "✓ operator pages admit every user of the partner's tenant")
}
