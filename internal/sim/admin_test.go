package sim

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func adminConsentURL(s *Server, tenant, state string) string {
	q := url.Values{
		"client_id": {DefaultGraphClientID}, "scope": {"https://graph.microsoft.com/.default"},
		"redirect_uri": {testRedirect}, "state": {state},
	}
	return s.URL() + "/" + tenant + "/v2.0/adminconsent?" + q.Encode()
}

func TestAdminConsentSignIn(t *testing.T) {
	sc := smallScenario()
	s, hc := startSim(t, sc, Options{})
	gdap := sc.Tenants[3]
	if s.ConsentState(gdap.ID) {
		t.Fatal("generated GDAP tenant starts consented")
	}
	loc, err := SignIn(context.Background(), hc, adminConsentURL(s, gdap.ID, "s-1"), gdap.Admin.UPN, DefaultAdminPassword, DefaultMFACode)
	if err != nil {
		t.Fatalf("SignIn: %v", err)
	}
	q := loc.Query()
	if q.Get("admin_consent") != "True" || q.Get("tenant") != gdap.ID || q.Get("state") != "s-1" || q.Get("scope") != "https://graph.microsoft.com/.default" {
		t.Errorf("consent redirect %s", loc)
	}
	if !s.ConsentState(gdap.ID) || s.Stats().AdminConsents != 1 {
		t.Error("accepting consent did not record it")
	}
	// An admin of one customer cannot consent for another.
	if _, err := SignIn(context.Background(), hc, adminConsentURL(s, sc.Tenants[2].ID, "s-2"), gdap.Admin.UPN, DefaultAdminPassword, DefaultMFACode); err == nil {
		t.Error("foreign tenant admin was allowed to consent")
	}
}

// TestAdminConsentV1: the v1 endpoint (/{tenant}/adminconsent) takes no scope and redirects
// with admin_consent and tenant, no scope.
func TestAdminConsentV1(t *testing.T) {
	sc := smallScenario()
	s, hc := startSim(t, sc, Options{})
	gdap := sc.Tenants[3]
	q := url.Values{"client_id": {DefaultGraphClientID}, "redirect_uri": {testRedirect}, "state": {"v1"}}
	loc, err := SignIn(context.Background(), hc, s.URL()+"/"+gdap.ID+"/adminconsent?"+q.Encode(), gdap.Admin.UPN, DefaultAdminPassword, DefaultMFACode)
	if err != nil {
		t.Fatalf("SignIn: %v", err)
	}
	if got := loc.Query(); got.Get("admin_consent") != "True" || got.Get("tenant") != gdap.ID || got.Get("state") != "v1" || got.Has("scope") {
		t.Errorf("v1 consent redirect %s", loc)
	}
	if !s.ConsentState(gdap.ID) {
		t.Error("v1 consent was not recorded")
	}
}

func TestAdminConsentCancel(t *testing.T) {
	sc := smallScenario()
	s, hc := startSim(t, sc, Options{})
	gdap := sc.Tenants[2]
	noFollow := *hc
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	// Drive the pages by hand to press Cancel, which SignIn never does.
	resp, err := noFollow.Get(adminConsentURL(s, gdap.ID, "s-3"))
	if err != nil {
		t.Fatal(err)
	}
	for _, fields := range []url.Values{
		{"login": {gdap.Admin.UPN}, "passwd": {DefaultAdminPassword}},
		{"otc": {DefaultMFACode}},
		{"consent": {"cancel"}},
	} {
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		p := parseForm(string(page))
		for k, v := range fields {
			p.hidden[k] = v
		}
		if resp, err = noFollow.PostForm(s.URL()+p.action, p.hidden); err != nil {
			t.Fatal(err)
		}
	}
	resp.Body.Close()
	loc, _ := resp.Location()
	if resp.StatusCode != http.StatusFound || loc.Query().Get("error") != "consent_required" ||
		!strings.HasPrefix(loc.Query().Get("error_description"), "AADSTS65004") || loc.Query().Get("state") != "s-3" {
		t.Errorf("cancel: %d %v", resp.StatusCode, loc)
	}
	if s.ConsentState(gdap.ID) {
		t.Error("cancelled consent was recorded")
	}
}

func TestAdminClient(t *testing.T) {
	sc := smallScenario()
	s, hc := startSim(t, sc, Options{})
	ctx := context.Background()
	ac, err := NewAdminClient(s.URL(), s.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	gdap := sc.Tenants[2].ID

	if err := ac.GrantConsent(ctx, gdap); err != nil {
		t.Fatal(err)
	}
	if ok, err := ac.ConsentState(ctx, gdap); err != nil || !ok {
		t.Errorf("ConsentState after grant = %v, %v", ok, err)
	}
	if err := ac.RevokeConsent(ctx, gdap); err != nil {
		t.Fatal(err)
	}
	if ok, _ := ac.ConsentState(ctx, gdap); ok || s.ConsentState(gdap) {
		t.Error("revoke did not reach the server")
	}
	if err := ac.GrantConsent(ctx, "00000000-0000-4000-8000-000000000000"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("unknown tenant: %v", err)
	}
	if err := ac.SetFault(ctx, Fault{API: "nope", Kind: FaultThrottle, Count: 1}); err == nil {
		t.Error("invalid fault accepted")
	}
	if err := ac.SetFault(ctx, Fault{API: APIToken, Kind: FaultThrottle, Count: 1, RetryAfter: "1"}); err != nil {
		t.Fatal(err)
	}
	if status, _ := postToken(t, hc, s, gdap, nil); status != 429 {
		t.Errorf("armed token fault: %d", status)
	}
	if err := ac.ExpireSecret(ctx, DefaultPCClientID); err != nil {
		t.Fatal(err)
	}
	status, body := postToken(t, hc, s, sc.PartnerTenantID, url.Values{
		"grant_type": {"client_credentials"}, "client_id": {DefaultPCClientID}, "client_secret": {DefaultPCSecret},
		"scope": {"https://graph.microsoft.com/.default"},
	})
	if status != 401 || !strings.HasPrefix(body["error_description"].(string), "AADSTS7000222") {
		t.Errorf("expired secret: %d %v", status, body)
	}
	if err := ac.RevokeRefreshTokens(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ac.DeleteUser(ctx, sc.Tenants[0].ID, sc.Tenants[0].Users[3].ID); err != nil {
		t.Fatal(err)
	}
	st, err := ac.Stats(ctx)
	if err != nil || st.TokenRequests["client_credentials"][DefaultPCClientID] != 1 || st.FaultsInjected != 1 {
		t.Errorf("stats %+v, %v", st, err)
	}
	got, err := ac.Scenario(ctx)
	if err != nil || len(got.Tenants) != len(sc.Tenants) || !got.Apps[0].SecretExpired || len(got.Tenants[0].Users) != len(sc.Tenants[0].Users)-1 {
		t.Errorf("scenario snapshot: %v", err)
	}
}
