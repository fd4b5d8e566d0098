package sim

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// The tests here act as cspsync's worker does when an operator signs in: discovery, an
// authorize request with nonce and PKCE, the HTML sign-in, the code redemption, and ID token
// validation with nothing but the published metadata and crypto/rsa.

const operatorsRedirect = "http://localhost:8080/auth/operator/callback"

func discover(t *testing.T, hc *http.Client, s *Server, tenant string) map[string]any {
	t.Helper()
	var doc map[string]any
	if resp := call(t, hc, http.MethodGet, s.URL()+"/"+tenant+"/v2.0/.well-known/openid-configuration", "", nil, nil, &doc); resp.StatusCode != 200 {
		t.Fatalf("discovery for %s: %d %v", tenant, resp.StatusCode, doc)
	}
	return doc
}

// publishedKey is a JWK as a relying party reads it.
type publishedKey struct {
	Kty, Use, Kid, X5t, N, E, Issuer string
	X5c                              []string
}

func fetchKeys(t *testing.T, hc *http.Client, jwksURI string) []publishedKey {
	t.Helper()
	var set struct{ Keys []publishedKey }
	if resp := call(t, hc, http.MethodGet, jwksURI, "", nil, nil, &set); resp.StatusCode != 200 {
		t.Fatalf("keys: %d", resp.StatusCode)
	}
	return set.Keys
}

func (k publishedKey) rsaKey(t *testing.T) *rsa.PublicKey {
	t.Helper()
	n, err1 := base64.RawURLEncoding.DecodeString(k.N)
	e, err2 := base64.RawURLEncoding.DecodeString(k.E)
	if err1 != nil || err2 != nil {
		t.Fatalf("key %s: n or e is not base64url", k.Kid)
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
}

// verifyIDToken checks an RS256 JWT against the key its kid names and returns its claims.
func verifyIDToken(t *testing.T, tok string, keys []publishedKey) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("ID token is not a compact JWT: %q", tok)
	}
	var header struct{ Typ, Alg, Kid string }
	raw, _ := base64.RawURLEncoding.DecodeString(parts[0])
	if err := json.Unmarshal(raw, &header); err != nil || header.Alg != "RS256" || header.Typ != "JWT" {
		t.Fatalf("ID token header %s", raw)
	}
	i := slices.IndexFunc(keys, func(k publishedKey) bool { return k.Kid == header.Kid })
	if i < 0 {
		t.Fatalf("no published key has kid %q", header.Kid)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(keys[i].rsaKey(t), crypto.SHA256, h[:], sig); err != nil {
		t.Fatalf("ID token signature does not verify with the published key: %v", err)
	}
	var claims map[string]any
	raw, _ = base64.RawURLEncoding.DecodeString(parts[1])
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// oidcAuthorizeURL builds the request a web app sends to sign a user in.
func oidcAuthorizeURL(doc map[string]any, clientID, scope, nonce string) string {
	_, challenge := pkce()
	q := url.Values{
		"client_id": {clientID}, "redirect_uri": {operatorsRedirect}, "response_type": {"code"},
		"response_mode": {"query"}, "scope": {scope}, "state": {"st-oidc"}, "nonce": {nonce},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}
	return doc["authorization_endpoint"].(string) + "?" + q.Encode()
}

// redeem posts an authorization code with the PC app's secret in an HTTP Basic header
// (client_secret_basic).
func redeem(t *testing.T, hc *http.Client, doc map[string]any, code, verifier string) (int, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {operatorsRedirect}, "code_verifier": {verifier}}
	req, _ := http.NewRequest(http.MethodPost, doc["token_endpoint"].(string), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(DefaultPCClientID), url.QueryEscape(DefaultPCSecret))
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// operatorSignIn signs upn in to the PC app in the partner tenant and returns the verified ID
// token claims.
func operatorSignIn(t *testing.T, s *Server, hc *http.Client, upn, scope, nonce string) (map[string]any, map[string]any) {
	t.Helper()
	doc := discover(t, hc, s, s.sc.PartnerTenantID)
	loc, err := s.SignInAs(context.Background(), hc, oidcAuthorizeURL(doc, DefaultPCClientID, scope, nonce), upn)
	if err != nil {
		t.Fatalf("SignInAs %s: %v", upn, err)
	}
	if loc.Query().Get("state") != "st-oidc" || loc.Query().Get("code") == "" {
		t.Fatalf("redirect %s", loc)
	}
	verifier, _ := pkce()
	status, body := redeem(t, hc, doc, loc.Query().Get("code"), verifier)
	if status != 200 {
		t.Fatalf("redeeming %s's code: %d %v", upn, status, body)
	}
	return verifyIDToken(t, body["id_token"].(string), fetchKeys(t, hc, doc["jwks_uri"].(string))), body
}

func TestDiscoveryDocumentAsEntra(t *testing.T) {
	sc := smallScenario()
	s, hc := startSim(t, sc, Options{})
	for seg, want := range map[string][2]string{ // endpoint tenant, issuer tenant
		sc.PartnerTenantID: {sc.PartnerTenantID, sc.PartnerTenantID},
		sc.PartnerDomain:   {sc.PartnerTenantID, sc.PartnerTenantID},
		"organizations":    {"organizations", "{tenantid}"},
		"Common":           {"common", "{tenantid}"},
	} {
		doc := discover(t, hc, s, seg)
		base := s.URL() + "/" + want[0]
		for field, value := range map[string]string{
			"issuer":                 s.URL() + "/" + want[1] + "/v2.0",
			"authorization_endpoint": base + "/oauth2/v2.0/authorize",
			"token_endpoint":         base + "/oauth2/v2.0/token",
			"jwks_uri":               base + "/discovery/v2.0/keys",
			"end_session_endpoint":   base + "/oauth2/v2.0/logout",
		} {
			if doc[field] != value {
				t.Errorf("%s: %s = %v, want %s", seg, field, doc[field], value)
			}
		}
		for field, values := range map[string][]string{
			"id_token_signing_alg_values_supported": {"RS256"},
			"response_types_supported":              {"code"},
			"response_modes_supported":              {"query"},
			"subject_types_supported":               {"pairwise"},
			"scopes_supported":                      {"openid", "profile", "email", "offline_access"},
			"token_endpoint_auth_methods_supported": {"client_secret_post", "client_secret_basic"},
			"claims_supported":                      {"iss", "aud", "sub", "nonce", "preferred_username", "name", "oid", "tid", "groups"},
		} {
			list, _ := doc[field].([]any)
			for _, v := range values {
				if !slices.Contains(list, any(v)) {
					t.Errorf("%s: %s = %v lacks %s", seg, field, doc[field], v)
				}
			}
		}
		if _, ok := doc["code_challenge_methods_supported"]; ok {
			t.Errorf("%s: advertises code_challenge_methods_supported, which Entra ID does not: clients must not depend on it", seg)
		}
	}
}

func TestJWKSPublishesTheSigningKey(t *testing.T) {
	sc := smallScenario()
	s, hc := startSim(t, sc, Options{})
	keys := fetchKeys(t, hc, s.URL()+"/"+sc.PartnerTenantID+"/discovery/v2.0/keys")
	if len(keys) != 1 {
		t.Fatalf("keys = %+v, want the one signing key", keys)
	}
	k := keys[0]
	if k.Kty != "RSA" || k.Use != "sig" || k.E != "AQAB" || k.Issuer != s.URL()+"/{tenantid}/v2.0" {
		t.Errorf("key %+v", k)
	}
	if n := k.rsaKey(t).N.BitLen(); n != 2048 {
		t.Errorf("modulus has %d bits, want 2048", n)
	}
	der, err := base64.StdEncoding.DecodeString(k.X5c[0])
	if err != nil {
		t.Fatalf("x5c is not standard base64: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	thumb := sha1.Sum(der)
	if want := base64.RawURLEncoding.EncodeToString(thumb[:]); k.Kid != want || k.X5t != want {
		t.Errorf("kid %q, x5t %q; want both the certificate thumbprint %q", k.Kid, k.X5t, want)
	}
	selfSigned := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature) == nil &&
		bytes.Equal(cert.RawIssuer, cert.RawSubject)
	if !k.rsaKey(t).Equal(cert.PublicKey) || !selfSigned {
		t.Error("x5c is not a self-signed certificate for n and e")
	}
	if other := fetchKeys(t, hc, s.URL()+"/organizations/discovery/v2.0/keys"); len(other) != 1 || other[0].Kid != k.Kid {
		t.Errorf("tenantless keys %+v differ from the tenant's", other)
	}
	var body aadErrorBody
	if resp := call(t, hc, http.MethodGet, s.URL()+"/nosuch.onmicrosoft.com/discovery/v2.0/keys", "", nil, nil, &body); resp.StatusCode != 400 || body.Codes[0] != 90002 {
		t.Errorf("keys of an unknown tenant: %d %+v", resp.StatusCode, body)
	}
}

func TestOperatorSignsInWithOpenIDConnect(t *testing.T) {
	sc := smallScenario()
	s, hc := startSim(t, sc, Options{})
	operator := sc.PartnerUsers[0]
	before := time.Now().Unix()
	claims, body := operatorSignIn(t, s, hc, DefaultOperatorUPN, "openid profile", "n-0S6_WzA2Mj")
	for name, want := range map[string]any{
		"iss": s.URL() + "/" + sc.PartnerTenantID + "/v2.0", "aud": DefaultPCClientID,
		"nonce": "n-0S6_WzA2Mj", "tid": sc.PartnerTenantID, "oid": operator.ID, "ver": "2.0",
		"preferred_username": DefaultOperatorUPN, "name": operator.DisplayName,
	} {
		if claims[name] != want {
			t.Errorf("%s = %v, want %v", name, claims[name], want)
		}
	}
	if got := claims["groups"]; !slices.Equal(toStrings(got), []string{DefaultOperatorsGroupID}) {
		t.Errorf("groups = %v, want the operators group", got)
	}
	iat, nbf, exp := claims["iat"].(float64), claims["nbf"].(float64), claims["exp"].(float64)
	if int64(iat) < before-1 || nbf > iat || exp != iat+3600 {
		t.Errorf("iat %v nbf %v exp %v", iat, nbf, exp)
	}
	for _, name := range []string{"sub", "uti", "aio", "rh"} {
		if s, _ := claims[name].(string); s == "" {
			t.Errorf("%s is missing", name)
		}
	}
	// Without a resource, Entra ID adds a Graph token for User.Read.
	if cl := claimsOf(t, body["access_token"].(string)); cl.Aud != resGraph.aud || cl.Scp != "User.Read" || body["scope"] != "openid profile User.Read" {
		t.Errorf("access token %+v for scope %v", cl, body["scope"])
	}
	if body["refresh_token"] != nil {
		t.Error("refresh token without offline_access")
	}

	// sub is stable for the user and app (and differs per app); openid alone carries no
	// profile claims.
	again, _ := operatorSignIn(t, s, hc, DefaultOperatorUPN, "openid", "n-2")
	if again["sub"] != claims["sub"] || again["uti"] == claims["uti"] || again["name"] != nil || again["oid"] != nil {
		t.Errorf("second sign-in with openid only: %v", again)
	}
	if pairwiseSub(operator.ID, sc.PartnerTenantID, DefaultGraphClientID) == claims["sub"] {
		t.Error("sub does not depend on the app")
	}
}

func TestGroupsClaimOnlyWhenTheAppAsks(t *testing.T) {
	sc := smallScenario()
	s, hc := startSim(t, sc, Options{})
	for upn, want := range map[string][]string{
		DefaultAdminUPN:    {DefaultOperatorsGroupID},
		DefaultOperatorUPN: {DefaultOperatorsGroupID},
		DefaultOutsiderUPN: nil, // in no group: Entra ID leaves the claim out
	} {
		claims, _ := operatorSignIn(t, s, hc, upn, "openid profile", "n")
		if got, present := claims["groups"]; !slices.Equal(toStrings(got), want) || present != (want != nil) {
			t.Errorf("%s: groups = %v, want %v", upn, got, want)
		}
	}

	sc.Apps[0].GroupMembershipClaims = ""
	s2, hc2 := startSim(t, sc, Options{})
	if claims, _ := operatorSignIn(t, s2, hc2, DefaultOperatorUPN, "openid profile", "n"); claims["groups"] != nil {
		t.Errorf("app without groupMembershipClaims: groups = %v", claims["groups"])
	}
}

func TestOIDCCodeNeedsTheRightPKCEVerifier(t *testing.T) {
	sc := smallScenario()
	s, hc := startSim(t, sc, Options{})
	doc := discover(t, hc, s, sc.PartnerTenantID)
	verifier, _ := pkce()
	for name, sent := range map[string]string{"wrong verifier": verifier + "x", "no verifier": ""} {
		loc, err := s.SignInAs(context.Background(), hc, oidcAuthorizeURL(doc, DefaultPCClientID, "openid profile", "n"), DefaultOperatorUPN)
		if err != nil {
			t.Fatal(err)
		}
		status, body := redeem(t, hc, doc, loc.Query().Get("code"), sent)
		if desc, _ := body["error_description"].(string); status != 400 || body["error"] != "invalid_grant" || !strings.HasPrefix(desc, "AADSTS501481: ") || body["id_token"] != nil {
			t.Errorf("%s: %d %v", name, status, body)
		}
	}
}

func TestIDTokenAfterRefreshHasNoNonce(t *testing.T) {
	sc := smallScenario()
	s, hc := startSim(t, sc, Options{})
	first, body := operatorSignIn(t, s, hc, DefaultOperatorUPN, "openid profile offline_access", "n-refresh")
	doc := discover(t, hc, s, sc.PartnerTenantID)
	status, refreshed := postToken(t, hc, s, sc.PartnerTenantID, url.Values{
		"grant_type": {"refresh_token"}, "client_id": {DefaultPCClientID}, "client_secret": {DefaultPCSecret},
		"refresh_token": {body["refresh_token"].(string)}, "scope": {"openid profile offline_access"},
	})
	if status != 200 {
		t.Fatalf("refresh: %d %v", status, refreshed)
	}
	claims := verifyIDToken(t, refreshed["id_token"].(string), fetchKeys(t, hc, doc["jwks_uri"].(string)))
	if claims["nonce"] != nil || claims["sub"] != first["sub"] || claims["oid"] != first["oid"] || claims["groups"] == nil {
		t.Errorf("refreshed ID token %v (first %v)", claims, first)
	}
}

func TestOnlyPartnerUsersSignInToTheSingleTenantApp(t *testing.T) {
	sc := smallScenario()
	s, hc := startSim(t, sc, Options{})
	ctx := context.Background()
	customerAdmin := sc.Tenants[0].Admin.UPN
	doc := discover(t, hc, s, sc.PartnerTenantID)
	_, err := s.SignInAs(ctx, hc, oidcAuthorizeURL(doc, DefaultPCClientID, "openid profile", "n"), customerAdmin)
	if err == nil || !strings.Contains(err.Error(), "AADSTS50020") || !strings.Contains(err.Error(), customerAdmin) {
		t.Errorf("customer admin at the partner's single-tenant app: err = %v, want AADSTS50020", err)
	}
	// At the customer's own authority the app does not exist at all.
	own := discover(t, hc, s, sc.Tenants[0].ID)
	if _, err := s.SignInAs(ctx, hc, oidcAuthorizeURL(own, DefaultPCClientID, "openid profile", "n"), customerAdmin); err == nil || !strings.Contains(err.Error(), "AADSTS700016") {
		t.Errorf("the PC app at a customer authority: err = %v, want AADSTS700016", err)
	}
	if _, err := s.SignInAs(ctx, hc, oidcAuthorizeURL(doc, DefaultPCClientID, "openid", "n"), "ghost@"+sc.PartnerDomain); err == nil || !strings.Contains(err.Error(), "not a user of the scenario") {
		t.Errorf("SignInAs an unknown user: err = %v", err)
	}
}

func TestRestartedSimulatorPublishesTheSameKey(t *testing.T) {
	sc := smallScenario()
	dir := t.TempDir()
	s, hc := startSim(t, sc, Options{StateDir: dir})
	claims, body := operatorSignIn(t, s, hc, DefaultOperatorUPN, "openid profile", "n")
	keys := fetchKeys(t, hc, s.URL()+"/"+sc.PartnerTenantID+"/discovery/v2.0/keys")
	s.Close()

	s2, hc2 := startSim(t, sc, Options{StateDir: dir})
	again := fetchKeys(t, hc2, s2.URL()+"/"+sc.PartnerTenantID+"/discovery/v2.0/keys")
	if len(again) != 1 || again[0].Kid != keys[0].Kid || again[0].N != keys[0].N || again[0].X5c[0] != keys[0].X5c[0] {
		t.Fatalf("keys after restart %+v, before %+v", again, keys)
	}
	if c := verifyIDToken(t, body["id_token"].(string), again); c["uti"] != claims["uti"] {
		t.Error("an ID token from before the restart does not verify")
	}
}

func TestSignOut(t *testing.T) {
	sc := smallScenario()
	s, hc := startSim(t, sc, Options{})
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	logout := discover(t, hc, s, sc.PartnerTenantID)["end_session_endpoint"].(string)

	resp := call(t, hc, http.MethodGet, logout+"?post_logout_redirect_uri="+url.QueryEscape("http://127.0.0.1:9090/auth/callback")+"&state=bye", "", nil, nil, nil)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || loc != "http://127.0.0.1:9090/auth/callback?state=bye" {
		t.Errorf("registered post-logout URI: %d %q", resp.StatusCode, loc)
	}
	for _, target := range []string{"https://evil.example/", ""} {
		resp = call(t, hc, http.MethodGet, logout+"?post_logout_redirect_uri="+url.QueryEscape(target), "", nil, nil, nil)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Location") != "" {
			t.Errorf("post-logout URI %q: %d %q, want the signed-out page", target, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}

func TestPartnerUsersAndGroupsValidation(t *testing.T) {
	// Scenarios written before partner users existed stay valid.
	old := smallScenario()
	old.PartnerUsers, old.PartnerGroups = nil, nil
	if err := old.validate(); err != nil {
		t.Errorf("scenario without partner users: %v", err)
	}
	raw, _ := json.Marshal(old)
	if bytes.Contains(raw, []byte("partnerUsers")) || bytes.Contains(raw, []byte("partnerGroups")) {
		t.Error("empty partner users or groups are serialised")
	}

	sc := smallScenario()
	sc.PartnerGroups[0].Members = append(sc.PartnerGroups[0].Members, sc.Tenants[0].Admin.ID)
	sc.PartnerUsers[1].ID = sc.PartnerUsers[0].ID
	sc.Apps[0].GroupMembershipClaims = "ApplicationGroup"
	sc.Apps[1].GroupMembershipClaims = "Security"
	err := sc.validate()
	for _, want := range []string{"is neither the partner admin nor a partner user", "used twice", `"ApplicationGroup" is not simulated`, `"Security" is none of`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("validate: err = %v, want it to say %q", err, want)
		}
	}
}

func toStrings(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}
