package sim

import (
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
)

// resource is an API that tokens can be issued for.
type resource struct {
	aud, appID, name string
	// defaultScopes are the delegated permissions a ".default" request expands to, and appRoles
	// the application permissions of app-only tokens: what an admin would have granted the
	// partner's apps.
	defaultScopes []string
	appRoles      []string
	// scopes lists the valid delegated permissions; nil accepts any name.
	scopes []string
}

var (
	resGraph = resource{
		aud: "https://graph.microsoft.com", appID: "00000003-0000-0000-c000-000000000000", name: "Microsoft Graph",
		defaultScopes: []string{"DelegatedAdminRelationship.Read.All", "Directory.Read.All", "LicenseAssignment.ReadWrite.All", "Organization.Read.All", "User.Read", "User.Read.All"},
		appRoles:      []string{"AuditLog.Read.All", "Directory.Read.All", "LicenseAssignment.ReadWrite.All", "Organization.Read.All", "User.Read.All"},
	}
	resPartnerCenter = resource{
		aud: "https://api.partnercenter.microsoft.com", appID: "fa3d9a0c-3fb0-42cc-9193-47c7ecd2edbd", name: "Microsoft Partner Center",
		defaultScopes: []string{"user_impersonation"},
		scopes:        []string{"user_impersonation", ".default"},
	}
	resources = []resource{resGraph, resPartnerCenter}
)

var oidcScopes = map[string]bool{"openid": true, "profile": true, "offline_access": true, "email": true}

// scopeRequest is a parsed "scope" parameter. Entra ID v2 issues one token per resource, so all
// non-OpenID scopes must name the same resource.
type scopeRequest struct {
	res   resource
	perms []string        // permissions on res, without the resource prefix
	oidc  map[string]bool // OpenID Connect scopes requested
	all   []string        // every requested scope, as requested, for the response's "scope"
}

func parseScopes(raw, tenantName string) (scopeRequest, *aadError) {
	sr := scopeRequest{oidc: map[string]bool{}}
	var res *resource
	for _, sc := range strings.Fields(raw) {
		if slices.Contains(sr.all, sc) {
			continue
		}
		sr.all = append(sr.all, sc)
		if oidcScopes[strings.ToLower(sc)] {
			sr.oidc[strings.ToLower(sc)] = true
			continue
		}
		r, perm := &resGraph, sc // a bare permission name means Microsoft Graph
		if i := strings.LastIndex(sc, "/"); i >= 0 {
			prefix := strings.TrimRight(sc[:i], "/")
			perm, r = sc[i+1:], nil
			for k := range resources {
				if strings.EqualFold(prefix, resources[k].aud) || strings.EqualFold(prefix, resources[k].appID) {
					r = &resources[k]
				}
			}
			if r == nil {
				return sr, newAAD(400, "invalid_resource", 500011, "The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.", prefix, tenantName)
			}
		}
		if res != nil && res.aud != r.aud {
			return sr, newAAD(400, "invalid_scope", 70011, "The provided value for the input parameter 'scope' is not valid. One or more scopes in '%s' are not compatible with each other.", raw)
		}
		if r.scopes != nil && !slices.Contains(r.scopes, perm) {
			return sr, newAAD(400, "invalid_scope", 70011, "The provided value for the input parameter 'scope' is not valid. The scope '%s' does not exist on %s.", sc, r.name)
		}
		res = r
		sr.perms = append(sr.perms, perm)
	}
	if len(sr.all) == 0 {
		return sr, errMissingParam("scope")
	}
	if res == nil { // only OpenID scopes: Entra ID issues a Graph token for signing in
		res, sr.perms = &resGraph, []string{"User.Read"}
		sr.all = append(sr.all, "User.Read")
	}
	sr.res = *res
	return sr, nil
}

// delegated returns the scp claim value.
func (sr scopeRequest) delegated() string {
	if slices.Contains(sr.perms, ".default") {
		return strings.Join(sr.res.defaultScopes, " ")
	}
	return strings.Join(sr.perms, " ")
}

// accessClaims mirror the v1.0 access tokens Graph and Partner Center receive from Entra ID.
type accessClaims struct {
	Aud        string   `json:"aud"`
	Iss        string   `json:"iss"`
	Iat        int64    `json:"iat"`
	Nbf        int64    `json:"nbf"`
	Exp        int64    `json:"exp"`
	Amr        []string `json:"amr,omitempty"`
	AppID      string   `json:"appid"`
	AppIDAcr   string   `json:"appidacr"`
	IDP        string   `json:"idp,omitempty"`
	IDTyp      string   `json:"idtyp"`
	Name       string   `json:"name,omitempty"`
	OID        string   `json:"oid"`
	Roles      []string `json:"roles,omitempty"`
	Scp        string   `json:"scp,omitempty"`
	Sub        string   `json:"sub"`
	Tid        string   `json:"tid"`
	UniqueName string   `json:"unique_name,omitempty"`
	UPN        string   `json:"upn,omitempty"`
	Ver        string   `json:"ver"`
}

type tokenResponse struct {
	TokenType    string `json:"token_type"`
	Scope        string `json:"scope,omitempty"`
	ExpiresIn    int    `json:"expires_in"`
	ExtExpiresIn int    `json:"ext_expires_in"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	ClientInfo   string `json:"client_info,omitempty"`
}

// pairwiseSub derives the subject identifier, which Entra ID makes unique per user, tenant and
// token recipient.
func pairwiseSub(oid, tenantID, clientID string) string {
	h := sha256.Sum256([]byte(oid + "|" + tenantID + "|" + clientID))
	return b64.EncodeToString(h[:])
}

// issueUser writes a delegated token response for acct in tenant. A refresh token comes back
// with offline_access, an ID token (echoing nonce) with openid, and client_info when asked for
// (MSAL builds the account id "uid.utid" from it, utid being the user's home tenant even in a
// customer tenant).
func (s *Server) issueUser(w http.ResponseWriter, app *App, acct *account, tenant *org, sr scopeRequest, mfa bool, clientInfo bool, nonce string) {
	now := s.now()
	exp := now.Add(s.tokenLifetime())
	at := accessClaims{
		Aud: sr.res.aud, Iss: s.base + "/" + tenant.ID + "/", Iat: now.Unix(), Nbf: now.Unix(), Exp: exp.Unix(),
		Amr: []string{"pwd"}, AppID: app.ClientID, AppIDAcr: "1", IDTyp: "user", Name: acct.DisplayName,
		OID: acct.ID, Scp: sr.delegated(), Sub: pairwiseSub(acct.ID, tenant.ID, sr.res.appID), Tid: tenant.ID,
		UniqueName: acct.UPN, UPN: acct.UPN, Ver: "1.0",
	}
	if mfa {
		at.Amr = append(at.Amr, "mfa")
	}
	if acct.home != tenant {
		at.IDP = s.base + "/" + acct.home.ID + "/"
	}
	resp := tokenResponse{
		TokenType: "Bearer", Scope: strings.Join(sr.all, " "),
		ExpiresIn: int(s.tokenLifetime().Seconds()), ExtExpiresIn: int(s.tokenLifetime().Seconds()),
		AccessToken: s.sign.jwt(at),
	}
	if sr.oidc["offline_access"] {
		resp.RefreshToken = s.sign.seal(purposeRefresh, refreshClaims{
			ClientID: app.ClientID, UserID: acct.ID, Scope: strings.Join(sr.all, " "),
			IssuedNs: now.UnixNano(), MFA: mfa, Nonce: randomToken()[:12],
		})
	}
	if sr.oidc["openid"] {
		resp.IDToken = s.idToken(app, acct, tenant, sr, nonce, now)
	}
	if clientInfo {
		ci, _ := json.Marshal(map[string]string{"uid": acct.ID, "utid": acct.home.ID})
		resp.ClientInfo = b64.EncodeToString(ci)
	}
	writeJSON(w, http.StatusOK, resp)
}

// issueApp writes an app-only token response: no refresh token, ID token or scope, as Entra ID
// answers client credentials requests.
func (s *Server) issueApp(w http.ResponseWriter, app *App, tenant *org, sr scopeRequest) {
	now := s.now()
	sp := derivedUUID("service-principal", app.ClientID, tenant.ID)
	at := accessClaims{
		Aud: sr.res.aud, Iss: s.base + "/" + tenant.ID + "/", Iat: now.Unix(), Nbf: now.Unix(),
		Exp: now.Add(s.tokenLifetime()).Unix(), AppID: app.ClientID, AppIDAcr: "1", IDTyp: "app",
		OID: sp, Roles: s.appRoles(tenant, sr.res), Sub: sp, Tid: tenant.ID, Ver: "1.0",
	}
	writeJSON(w, http.StatusOK, tokenResponse{
		TokenType: "Bearer", ExpiresIn: int(s.tokenLifetime().Seconds()),
		ExtExpiresIn: int(s.tokenLifetime().Seconds()), AccessToken: s.sign.jwt(at),
	})
}

// verifyPKCE checks an RFC 7636 code_verifier against the stored challenge.
func verifyPKCE(challenge, method, verifier string) bool {
	if verifier == "" {
		return false
	}
	if method == "S256" {
		h := sha256.Sum256([]byte(verifier))
		return b64.EncodeToString(h[:]) == challenge
	}
	return verifier == challenge
}
