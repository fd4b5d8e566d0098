package sim

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
)

const testRedirect = "http://localhost:53117/auth/callback"

var graphScopes = []string{"https://graph.microsoft.com/.default"}

func newMSAL(t *testing.T, s *Server, hc *http.Client, authority, clientID, secret string) confidential.Client {
	t.Helper()
	cred, err := confidential.NewCredFromSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	c, err := confidential.New(s.URL()+"/"+authority, clientID, cred,
		confidential.WithInstanceDiscovery(false), confidential.WithHTTPClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// msalSignIn runs AuthCodeURL → SignIn → AcquireTokenByAuthCode with the real MSAL client.
func msalSignIn(t *testing.T, s *Server, hc *http.Client, c confidential.Client, clientID string, scopes []string) confidential.AuthResult {
	t.Helper()
	ctx := context.Background()
	u, err := c.AuthCodeURL(ctx, clientID, testRedirect, append(scopes, "openid", "profile", "offline_access"))
	if err != nil {
		t.Fatalf("AuthCodeURL: %v", err)
	}
	verifier, challenge := pkce()
	u += "&state=xyz&code_challenge=" + challenge + "&code_challenge_method=S256"
	loc, err := SignIn(ctx, hc, u, DefaultAdminUPN, DefaultAdminPassword, DefaultMFACode)
	if err != nil {
		t.Fatalf("SignIn: %v", err)
	}
	if loc.Host != "localhost:53117" || loc.Path != "/auth/callback" || loc.Query().Get("state") != "xyz" {
		t.Fatalf("unexpected redirect %s", loc)
	}
	res, err := c.AcquireTokenByAuthCode(ctx, loc.Query().Get("code"), testRedirect, scopes, confidential.WithChallenge(verifier))
	if err != nil {
		t.Fatalf("AcquireTokenByAuthCode: %v", err)
	}
	if got := s.Stats().CodeVerifiers; !slices.Contains(got, verifier) {
		t.Errorf("code verifiers recorded %q, want %q among them", got, verifier)
	}
	return res
}

func TestMSALAuthCodeThenRefreshInCustomerTenants(t *testing.T) {
	sc := smallScenario()
	// One minute is inside MSAL's five-minute expiry margin, so every silent call refreshes.
	s, hc := startSim(t, sc, Options{AccessTokenLifetime: time.Minute})
	ctx := context.Background()
	c := newMSAL(t, s, hc, "organizations", DefaultGraphClientID, DefaultGraphSecret)

	res := msalSignIn(t, s, hc, c, DefaultGraphClientID, graphScopes)
	if want := sc.Admin.ID + "." + sc.PartnerTenantID; res.Account.HomeAccountID != want {
		t.Errorf("home account id = %q, want %q", res.Account.HomeAccountID, want)
	}
	if cl := claimsOf(t, res.AccessToken); cl.Tid != sc.PartnerTenantID || cl.Aud != resGraph.aud || !strings.Contains(strings.Join(cl.Amr, " "), "mfa") {
		t.Errorf("unexpected claims %+v", cl)
	}

	dap, gdap := sc.Tenants[0].ID, sc.Tenants[3].ID
	refreshes := func() int { return s.Stats().TokenRequests["refresh_token"][DefaultGraphClientID] }
	before := refreshes()
	r2, err := c.AcquireTokenSilent(ctx, graphScopes, confidential.WithSilentAccount(res.Account), confidential.WithTenantID(dap))
	if err != nil {
		t.Fatalf("silent at DAP tenant: %v", err)
	}
	if cl := claimsOf(t, r2.AccessToken); cl.Tid != dap || cl.OID != sc.Admin.ID {
		t.Errorf("customer-tenant token claims %+v", cl)
	}
	if _, err := c.AcquireTokenSilent(ctx, graphScopes, confidential.WithSilentAccount(res.Account)); err != nil {
		t.Fatalf("silent at home tenant: %v", err)
	}
	if got := refreshes() - before; got != 2 {
		t.Errorf("refresh grants = %d, want 2 (short-lived tokens must not be served from cache)", got)
	}

	// GDAP without admin consent: the app has no service principal there yet.
	_, err = c.AcquireTokenSilent(ctx, graphScopes, confidential.WithSilentAccount(res.Account), confidential.WithTenantID(gdap))
	if status, code := aadErr(t, err); status != 400 || code != 65001 {
		t.Errorf("unconsented GDAP refresh: %d AADSTS%d, want 400 AADSTS65001", status, code)
	}
	if err := s.GrantConsent(gdap); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AcquireTokenSilent(ctx, graphScopes, confidential.WithSilentAccount(res.Account), confidential.WithTenantID(gdap)); err != nil {
		t.Fatalf("silent at consented GDAP tenant: %v", err)
	}

	// A password reset revokes refresh tokens.
	s.RevokeRefreshTokens()
	_, err = c.AcquireTokenSilent(ctx, graphScopes, confidential.WithSilentAccount(res.Account), confidential.WithTenantID(dap))
	if status, code := aadErr(t, err); status != 400 || code != 50173 {
		t.Errorf("after revocation: %d AADSTS%d, want 400 AADSTS50173", status, code)
	}
}

func TestMSALPartnerCenterAppIsSingleTenant(t *testing.T) {
	sc := smallScenario()
	s, hc := startSim(t, sc, Options{})
	pcScopes := []string{"https://api.partnercenter.microsoft.com/user_impersonation"}

	// Created after October 2018, a single-tenant app cannot use /organizations.
	c := newMSAL(t, s, hc, "organizations", DefaultPCClientID, DefaultPCSecret)
	u, err := c.AuthCodeURL(context.Background(), DefaultPCClientID, testRedirect, pcScopes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := SignIn(context.Background(), hc, u, DefaultAdminUPN, DefaultAdminPassword, DefaultMFACode); err == nil || !strings.Contains(err.Error(), "AADSTS50194") {
		t.Errorf("single-tenant app via /organizations: err = %v, want AADSTS50194", err)
	}

	c = newMSAL(t, s, hc, sc.PartnerTenantID, DefaultPCClientID, DefaultPCSecret)
	res := msalSignIn(t, s, hc, c, DefaultPCClientID, pcScopes)
	if cl := claimsOf(t, res.AccessToken); cl.Aud != resPartnerCenter.aud || cl.Scp != "user_impersonation" || cl.Tid != sc.PartnerTenantID {
		t.Errorf("PC token claims %+v", cl)
	}
	// The single-tenant app does not exist in customer tenants.
	_, err = c.AcquireTokenSilent(context.Background(), pcScopes, confidential.WithSilentAccount(res.Account), confidential.WithTenantID(sc.Tenants[0].ID))
	if status, code := aadErr(t, err); status != 400 || code != 700016 {
		t.Errorf("PC app in customer tenant: %d AADSTS%d, want 400 AADSTS700016", status, code)
	}
}

func TestMSALClientCredentials(t *testing.T) {
	sc := smallScenario()
	s, hc := startSim(t, sc, Options{})
	ctx := context.Background()
	dap, gdap := sc.Tenants[0].ID, sc.Tenants[2].ID
	c := newMSAL(t, s, hc, "organizations", DefaultGraphClientID, DefaultGraphSecret)

	res, err := c.AcquireTokenByCredential(ctx, graphScopes, confidential.WithTenantID(dap))
	if err != nil {
		t.Fatalf("client credentials at DAP tenant: %v", err)
	}
	if cl := claimsOf(t, res.AccessToken); cl.Tid != dap || cl.IDTyp != "app" || len(cl.Roles) == 0 {
		t.Errorf("app token claims %+v", cl)
	}

	_, err = c.AcquireTokenByCredential(ctx, graphScopes, confidential.WithTenantID(gdap))
	if status, code := aadErr(t, err); status != 400 || code != 7000229 {
		t.Errorf("unconsented GDAP: %d AADSTS%d, want 400 AADSTS7000229", status, code)
	}
	if err := s.GrantConsent(gdap); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AcquireTokenByCredential(ctx, graphScopes, confidential.WithTenantID(gdap)); err != nil {
		t.Errorf("after consent: %v", err)
	}

	_, err = c.AcquireTokenByCredential(ctx, []string{"https://graph.microsoft.com/User.Read.All"}, confidential.WithTenantID(dap))
	if status, code := aadErr(t, err); status != 400 || code != 1002012 {
		t.Errorf("client credentials without .default: %d AADSTS%d, want 400 AADSTS1002012", status, code)
	}
}

func TestMSALClientAuthenticationErrors(t *testing.T) {
	sc := smallScenario()
	s, hc := startSim(t, sc, Options{})
	ctx := context.Background()
	dap := sc.Tenants[0].ID
	tests := []struct {
		name, clientID, secret string
		status, code           int
	}{
		{"secret id pasted as secret", DefaultGraphClientID, DefaultSecretID, 401, 7000215},
		{"unknown client", "11111111-2222-4333-8444-555555555555", DefaultGraphSecret, 400, 700016},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newMSAL(t, s, hc, "organizations", tc.clientID, tc.secret)
			_, err := c.AcquireTokenByCredential(ctx, graphScopes, confidential.WithTenantID(dap))
			if status, code := aadErr(t, err); status != tc.status || code != tc.code {
				t.Errorf("got %d AADSTS%d, want %d AADSTS%d", status, code, tc.status, tc.code)
			}
		})
	}
	t.Run("expired secret", func(t *testing.T) {
		s.ExpireSecret(DefaultGraphClientID)
		c := newMSAL(t, s, hc, "organizations", DefaultGraphClientID, DefaultGraphSecret)
		_, err := c.AcquireTokenByCredential(ctx, graphScopes, confidential.WithTenantID(dap))
		if status, code := aadErr(t, err); status != 401 || code != 7000222 {
			t.Errorf("got %d AADSTS%d, want 401 AADSTS7000222", status, code)
		}
	})
}

func TestMSALAuthCodeReuse(t *testing.T) {
	sc := smallScenario()
	s, hc := startSim(t, sc, Options{})
	ctx := context.Background()
	c := newMSAL(t, s, hc, "organizations", DefaultGraphClientID, DefaultGraphSecret)
	u, err := c.AuthCodeURL(ctx, DefaultGraphClientID, testRedirect, []string{"User.Read", "openid", "offline_access", "profile"})
	if err != nil {
		t.Fatal(err)
	}
	code := signInForCode(t, hc, u, DefaultAdminUPN, DefaultAdminPassword, DefaultMFACode)
	if _, err := c.AcquireTokenByAuthCode(ctx, code, testRedirect, []string{"User.Read"}); err != nil {
		t.Fatalf("first redemption: %v", err)
	}
	_, err = c.AcquireTokenByAuthCode(ctx, code, testRedirect, []string{"User.Read"})
	if status, code := aadErr(t, err); status != 400 || code != 54005 {
		t.Errorf("second redemption: %d AADSTS%d, want 400 AADSTS54005", status, code)
	}
}

func TestMSALUserWithoutMFAIsRejected(t *testing.T) {
	sc := smallScenario()
	sc.Admin.MFARegistered = false
	s, hc := startSim(t, sc, Options{})
	ctx := context.Background()
	c := newMSAL(t, s, hc, "organizations", DefaultGraphClientID, DefaultGraphSecret)
	u, err := c.AuthCodeURL(ctx, DefaultGraphClientID, testRedirect, []string{"User.Read", "openid", "offline_access", "profile"})
	if err != nil {
		t.Fatal(err)
	}
	code := signInForCode(t, hc, u, DefaultAdminUPN, DefaultAdminPassword, "")
	_, err = c.AcquireTokenByAuthCode(ctx, code, testRedirect, []string{"User.Read"})
	if status, code := aadErr(t, err); status != 400 || code != 50076 {
		t.Errorf("redeeming a single-factor code: %d AADSTS%d, want 400 AADSTS50076", status, code)
	}
}

func TestSignInErrors(t *testing.T) {
	sc := smallScenario()
	s, hc := startSim(t, sc, Options{})
	ctx := context.Background()
	good := authorizeURL(s, "organizations", DefaultGraphClientID, testRedirect, "User.Read openid")
	tests := []struct {
		name, url, user, password, mfa, want string
	}{
		{"wrong password", good, DefaultAdminUPN, "nope", DefaultMFACode, "AADSTS50126"},
		{"wrong MFA code", good, DefaultAdminUPN, DefaultAdminPassword, "000000", "AADSTS500121"},
		{"unknown user", good, "nobody@example.com", DefaultAdminPassword, DefaultMFACode, "AADSTS50034"},
		{"MFA code missing", good, DefaultAdminUPN, DefaultAdminPassword, "", "requires an MFA code"},
		{"redirect URI not registered", authorizeURL(s, "organizations", DefaultGraphClientID, "https://evil.example/cb", "User.Read"), DefaultAdminUPN, DefaultAdminPassword, DefaultMFACode, "AADSTS50011"},
		{"unknown client", authorizeURL(s, "organizations", "11111111-2222-4333-8444-555555555555", testRedirect, "User.Read"), DefaultAdminUPN, DefaultAdminPassword, DefaultMFACode, "AADSTS700016"},
		{"unknown tenant", authorizeURL(s, "nosuch.onmicrosoft.com", DefaultGraphClientID, testRedirect, "User.Read"), DefaultAdminUPN, DefaultAdminPassword, DefaultMFACode, "AADSTS90002"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := SignIn(ctx, hc, tc.url, tc.user, tc.password, tc.mfa)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %s", err, tc.want)
			}
		})
	}

	// A redirect URI mismatch is an error page, never a redirect to the unverified URI.
	resp, err := hc.Get(authorizeURL(s, "organizations", DefaultGraphClientID, "https://evil.example/cb", "User.Read"))
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || resp.Header.Get("Location") != "" || !strings.Contains(string(page), `role="alert"`) {
		t.Errorf("mismatch page: %d location=%q", resp.StatusCode, resp.Header.Get("Location"))
	}

	// Entra ignores the port of loopback redirect URIs, not the path.
	if _, err := SignIn(ctx, hc, authorizeURL(s, "organizations", DefaultGraphClientID, "http://127.0.0.1:9/consent/callback", "User.Read openid"), DefaultAdminUPN, DefaultAdminPassword, DefaultMFACode); err != nil {
		t.Errorf("loopback with another port: %v", err)
	}
	if _, err := SignIn(ctx, hc, authorizeURL(s, "organizations", DefaultGraphClientID, "http://127.0.0.1:9/other", "User.Read"), DefaultAdminUPN, DefaultAdminPassword, DefaultMFACode); err == nil {
		t.Error("loopback with an unregistered path was accepted")
	}
}

func TestRawTokenEndpointAndRestart(t *testing.T) {
	sc := smallScenario()
	dir := t.TempDir()
	s, hc := startSim(t, sc, Options{StateDir: dir})
	scope := "https://graph.microsoft.com/User.Read.All openid offline_access profile"
	code := signInForCode(t, hc, authorizeURL(s, sc.PartnerTenantID, DefaultGraphClientID, testRedirect, scope), DefaultAdminUPN, DefaultAdminPassword, DefaultMFACode)
	verifier, _ := pkce()
	form := url.Values{
		"grant_type": {"authorization_code"}, "client_id": {DefaultGraphClientID}, "client_secret": {DefaultGraphSecret},
		"code": {code}, "redirect_uri": {testRedirect}, "code_verifier": {"wrong-" + verifier}, "scope": {scope},
	}
	if status, body := postToken(t, hc, s, "organizations", form); status != 400 || !strings.HasPrefix(body["error_description"].(string), "AADSTS501481") {
		t.Fatalf("bad PKCE verifier: %d %v", status, body)
	}

	code = signInForCode(t, hc, authorizeURL(s, sc.PartnerTenantID, DefaultGraphClientID, testRedirect, scope), DefaultAdminUPN, DefaultAdminPassword, DefaultMFACode)
	form.Set("code", code)
	form.Set("code_verifier", verifier)
	status, body := postToken(t, hc, s, "organizations", form)
	if status != 200 || body["token_type"] != "Bearer" || body["expires_in"] != float64(3599) || body["refresh_token"] == nil || body["id_token"] == nil {
		t.Fatalf("auth code redemption: %d %v", status, body)
	}
	if body["scope"] != scope {
		t.Errorf("scope = %q, want every requested scope %q", body["scope"], scope)
	}
	rt := body["refresh_token"].(string)
	s.Close()

	// A restarted simulator on the same state directory honours the earlier refresh token.
	s2, hc2 := startSim(t, sc, Options{StateDir: dir})
	status, body = postToken(t, hc2, s2, sc.Tenants[1].ID, url.Values{
		"grant_type": {"refresh_token"}, "client_id": {DefaultGraphClientID}, "client_secret": {DefaultGraphSecret},
		"refresh_token": {rt}, "scope": {"https://graph.microsoft.com/.default openid offline_access"},
	})
	if status != 200 || claimsOf(t, body["access_token"].(string)).Tid != sc.Tenants[1].ID {
		t.Fatalf("refresh after restart: %d %v", status, body)
	}
	// The refresh token is bound to its client.
	status, body = postToken(t, hc2, s2, sc.PartnerTenantID, url.Values{
		"grant_type": {"refresh_token"}, "client_id": {DefaultPCClientID}, "client_secret": {DefaultPCSecret},
		"refresh_token": {rt}, "scope": {"https://api.partnercenter.microsoft.com/user_impersonation"},
	})
	if status != 400 || body["error"] != "invalid_grant" {
		t.Errorf("refresh token used by another client: %d %v", status, body)
	}
}

func TestDiscovery(t *testing.T) {
	sc := smallScenario()
	s, hc := startSim(t, sc, Options{})
	for seg, wantIssuer := range map[string]string{
		"organizations":          s.URL() + "/{tenantid}/v2.0",
		sc.Tenants[0].ID:         s.URL() + "/" + sc.Tenants[0].ID + "/v2.0",
		sc.Tenants[0].Domain:     s.URL() + "/" + sc.Tenants[0].ID + "/v2.0",
		"nosuch.onmicrosoft.com": "",
	} {
		var doc map[string]any
		resp := call(t, hc, http.MethodGet, s.URL()+"/"+seg+"/v2.0/.well-known/openid-configuration", "", nil, nil, &doc)
		if wantIssuer == "" {
			if resp.StatusCode != 400 || doc["error"] != "invalid_tenant" {
				t.Errorf("%s: %d %v", seg, resp.StatusCode, doc)
			}
			continue
		}
		if doc["issuer"] != wantIssuer || !strings.HasSuffix(doc["token_endpoint"].(string), "/oauth2/v2.0/token") {
			t.Errorf("%s: %v", seg, doc)
		}
	}
}

func TestAutoMFA(t *testing.T) {
	sc := smallScenario()
	sc.AutoMFA = true
	s, hc := startSim(t, sc, Options{})
	c := newMSAL(t, s, hc, "organizations", DefaultGraphClientID, DefaultGraphSecret)
	u, err := c.AuthCodeURL(context.Background(), DefaultGraphClientID, testRedirect, []string{"User.Read", "openid", "offline_access", "profile"})
	if err != nil {
		t.Fatal(err)
	}
	code := signInForCode(t, hc, u, DefaultAdminUPN, DefaultAdminPassword, "")
	res, err := c.AcquireTokenByAuthCode(context.Background(), code, testRedirect, []string{"User.Read"})
	if err != nil {
		t.Fatalf("auto-approved MFA sign-in: %v", err)
	}
	if amr := claimsOf(t, res.AccessToken).Amr; !slices.Contains(amr, "mfa") {
		t.Errorf("amr = %v, want mfa", amr)
	}
}
