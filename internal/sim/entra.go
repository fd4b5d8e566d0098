package sim

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"net/url"
	"time"
)

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.writeAAD(w, r, errMalformedRequest())
		return
	}
	form := r.PostForm
	// client_secret_basic: RFC 6749 form-encodes id and secret before the Basic encoding.
	if id, secret, ok := r.BasicAuth(); ok && form.Get("client_secret") == "" {
		id, err1 := url.QueryUnescape(id)
		secret, err2 := url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			s.writeAAD(w, r, errMalformedRequest())
			return
		}
		form.Set("client_id", id)
		form.Set("client_secret", secret)
	}
	grantType, clientID := form.Get("grant_type"), form.Get("client_id")
	s.countToken(grantType, clientID, form.Get("code_verifier"))
	if s.injectFault(w, r, APIToken) {
		return
	}
	seg := r.PathValue("tenant")
	var target *org // nil for /organizations and /common
	if !isTenantless(seg) {
		if target = s.dir.lookup(seg); target == nil {
			s.writeAAD(w, r, errTenantNotFound(seg))
			return
		}
	}
	if grantType == "" {
		s.writeAAD(w, r, errMissingParam("grant_type"))
		return
	}
	app, e := s.authenticateClient(form, seg, target)
	if e != nil {
		s.writeAAD(w, r, e)
		return
	}
	switch grantType {
	case "authorization_code":
		e = s.grantAuthCode(w, r, app)
	case "refresh_token":
		e = s.grantRefresh(w, r, app, target)
	case "client_credentials":
		e = s.grantClientCredentials(w, r, app, target)
	default:
		e = newAAD(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type '%s'.", grantType)
	}
	if e != nil {
		s.writeAAD(w, r, e)
	}
}

// authenticateClient checks the app exists where the request is aimed and that its secret is
// the current secret value, in the order Entra ID reports problems.
func (s *Server) authenticateClient(form url.Values, seg string, target *org) (*App, *aadError) {
	clientID := form.Get("client_id")
	if clientID == "" {
		return nil, errMissingParam("client_id")
	}
	app := s.dir.apps[clientID]
	if app == nil {
		return nil, errAppNotFound(clientID, directoryName(seg, target))
	}
	if e := s.appAvailable(app, target); e != nil {
		return nil, e
	}
	secret := form.Get("client_secret")
	if secret == "" {
		return nil, newAAD(401, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
	}
	s.mu.Lock()
	added := s.state.AddedSecrets[app.ClientID]
	s.mu.Unlock()
	for _, a := range added {
		if equalSecret(secret, a) {
			return app, nil
		}
	}
	if !equalSecret(secret, app.Secret) {
		return nil, newAAD(401, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", app.ClientID)
	}
	s.mu.Lock()
	expired := app.SecretExpired || s.state.ExpiredSecrets[app.ClientID]
	s.mu.Unlock()
	if expired {
		return nil, newAAD(401, "invalid_client", 7000222, "The provided client secret keys for app '%s' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.", app.ClientID)
	}
	return app, nil
}

// appAvailable applies the single-tenant rules: such an app exists only in the partner tenant
// and cannot use the tenantless endpoints.
func (s *Server) appAvailable(app *App, target *org) *aadError {
	if app.MultiTenant {
		return nil
	}
	if target == nil {
		return errNotMultiTenant(app)
	}
	if !target.partner {
		return errAppNotFound(app.ClientID, target.Name)
	}
	return nil
}

func directoryName(seg string, target *org) string {
	if target != nil {
		return target.Name
	}
	return seg
}

func equalSecret(got, want string) bool {
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// consentedLocked reports whether the partner's multi-tenant apps have a service principal in
// o: always in the partner tenant, implicitly under DAP, and after admin consent under GDAP.
// An explicit grant or revocation overrides the scenario. The caller holds s.mu.
func (s *Server) consentedLocked(o *org) bool {
	if o.partner {
		return true
	}
	if v, ok := s.state.Consent[o.ID]; ok {
		return v
	}
	return o.Consented || o.Relationship == RelationshipDAP
}

func (s *Server) consented(o *org) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.consentedLocked(o)
}

// authCode is an issued authorization code; it lives in memory only (ten minutes).
type authCode struct {
	clientID, redirectURI    string
	challenge, method, scope string
	nonce                    string // echoed in the ID token
	userID, tenantID         string
	mfa                      bool
	expires                  time.Time
	redeemed                 bool
}

const authCodeLifetime = 10 * time.Minute

func (s *Server) grantAuthCode(w http.ResponseWriter, r *http.Request, app *App) *aadError {
	f := r.PostForm
	raw := f.Get("code")
	if raw == "" {
		return errMissingParam("code")
	}
	s.mu.Lock()
	c := s.codes[raw]
	var wasRedeemed bool
	if c != nil {
		wasRedeemed, c.redeemed = c.redeemed, true
	}
	s.mu.Unlock()
	switch {
	case c == nil:
		return errMalformedRequest()
	case wasRedeemed:
		return newAAD(400, "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.")
	case s.now().After(c.expires):
		return newAAD(400, "invalid_grant", 70008, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.")
	case c.clientID != app.ClientID:
		return newAAD(400, "invalid_grant", 70000, "Provided grant is invalid or malformed.")
	case f.Get("redirect_uri") != c.redirectURI:
		return newAAD(400, "invalid_grant", 500112, "The reply address '%s' does not match the reply address '%s' provided when requesting Authorization code.", f.Get("redirect_uri"), c.redirectURI)
	}
	if c.challenge != "" && !verifyPKCE(c.challenge, c.method, f.Get("code_verifier")) {
		return newAAD(400, "invalid_grant", 501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request.")
	}
	acct, tenant := s.dir.byOID[c.userID], s.dir.byID[c.tenantID]
	granted, e := parseScopes(c.scope, tenant.Name)
	if e != nil {
		return e
	}
	if !c.mfa {
		// The sign-in had no second factor (the user never registered MFA), so policy blocks
		// issuing the token.
		return newAAD(400, "invalid_grant", 50076, "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '%s'.", granted.res.appID)
	}
	req := granted
	if f.Get("scope") != "" {
		if req, e = parseScopes(f.Get("scope"), tenant.Name); e != nil {
			return e
		}
	}
	// What the user consented to at the authorize step decides whether a refresh token and an
	// ID token come back; the token request only narrows the access token.
	req.oidc = granted.oidc
	s.issueUser(w, app, acct, tenant, req, c.mfa, f.Get("client_info") == "1", c.nonce)
	return nil
}

type refreshClaims struct {
	ClientID string `json:"cid"`
	UserID   string `json:"oid"`
	Scope    string `json:"scp"`
	IssuedNs int64  `json:"iat"` // nanoseconds: revocation must order exactly against it
	MFA      bool   `json:"mfa"`
	Nonce    string `json:"n"`
}

const refreshInactivity = 90 * 24 * time.Hour

func (s *Server) grantRefresh(w http.ResponseWriter, r *http.Request, app *App, target *org) *aadError {
	f := r.PostForm
	raw := f.Get("refresh_token")
	if raw == "" {
		return errMissingParam("refresh_token")
	}
	var rt refreshClaims
	if s.sign.open(purposeRefresh, raw, &rt) != nil {
		return errMalformedRequest()
	}
	acct := s.dir.byOID[rt.UserID]
	if rt.ClientID != app.ClientID || acct == nil {
		return newAAD(400, "invalid_grant", 70000, "Provided grant is invalid or malformed.")
	}
	issued := time.Unix(0, rt.IssuedNs).UTC()
	s.mu.Lock()
	validFrom := s.state.TokensValidFrom
	s.mu.Unlock()
	if !validFrom.IsZero() && issued.Before(validFrom) {
		return newAAD(400, "invalid_grant", 50173, "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password. The grant was issued on '%s' and the TokensValidFrom date (before which tokens are not valid) for this user is '%s'.",
			issued.Format("2006-01-02T15:04:05.0000000Z"), validFrom.UTC().Format("2006-01-02T15:04:05.0000000Z"))
	}
	if s.now().Sub(issued) > refreshInactivity {
		return newAAD(400, "invalid_grant", 700082, "The refresh token has expired due to inactivity. The token was issued on %s and was inactive for 90.00:00:00.", issued.Format("2006-01-02T15:04:05.0000000Z"))
	}
	tenant := target
	if tenant == nil {
		tenant = acct.home
	}
	if !acct.canAccess(tenant) {
		return errUserNotInTenant(acct, tenant, app, s.base)
	}
	if !s.consented(tenant) {
		return errConsentRequired(app)
	}
	scope := f.Get("scope")
	if scope == "" {
		scope = rt.Scope
	}
	req, e := parseScopes(scope, tenant.Name)
	if e != nil {
		return e
	}
	s.issueUser(w, app, acct, tenant, req, rt.MFA, f.Get("client_info") == "1", "")
	return nil
}

func (s *Server) grantClientCredentials(w http.ResponseWriter, r *http.Request, app *App, target *org) *aadError {
	scope := r.PostForm.Get("scope")
	if scope == "" {
		return errMissingParam("scope")
	}
	tenant := target
	if tenant == nil {
		tenant = s.dir.partner // Entra ID falls back to the app's home tenant
	}
	req, e := parseScopes(scope, tenant.Name)
	if e != nil {
		return e
	}
	if len(req.perms) != 1 || req.perms[0] != ".default" {
		return newAAD(400, "invalid_scope", 1002012, "The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", scope)
	}
	if !s.consented(tenant) {
		return newAAD(400, "invalid_client", 7000229, "The client application %s is missing service principal in the tenant %s. See instructions here: https://go.microsoft.com/fwlink/?linkid=2225119", app.ClientID, tenant.ID)
	}
	s.issueApp(w, app, tenant, req)
	return nil
}
