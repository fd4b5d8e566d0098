package sim

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// OpenID Connect as Entra ID's v2.0 endpoint offers it: the discovery document, the ID token
// signing key published at jwks_uri, ID tokens, and the sign-out endpoint.

const (
	// idKeyFile holds the RSA key and its certificate in one file, so it is never half-written.
	idKeyFile = "id-token-signing.pem"
	// tenantPlaceholder stands for the tenant in the issuer of tenantless metadata and of keys.
	tenantPlaceholder = "{tenantid}"
	idTokenLifetime   = time.Hour
)

// idTokenKey signs ID tokens with RS256 so that clients can verify them with the public key
// alone, as they verify Entra ID's. Like Entra's keys it comes with a self-signed certificate
// whose base64url SHA-1 thumbprint is both the kid and the x5t. It is created once per state
// directory, so tokens and cached keys stay valid across restarts.
type idTokenKey struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
	kid  string
}

func loadOrCreateIDTokenKey(dir string) (idTokenKey, error) {
	path := filepath.Join(dir, idKeyFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if data, err = createIDTokenKey(); err == nil {
			err = writeFileAtomic(path, data, 0o600)
		}
	}
	if err != nil {
		return idTokenKey{}, fmt.Errorf("ID token signing key: %w", err)
	}
	k, err := parseIDTokenKey(data)
	if err != nil {
		return idTokenKey{}, fmt.Errorf("ID token signing key %s is corrupt (delete it to generate a new key; clients then fetch it from jwks_uri): %w", path, err)
	}
	return k, nil
}

func createIDTokenKey() ([]byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "cspsync simulator token signing"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(5, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return append(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...), nil
}

func parseIDTokenKey(data []byte) (idTokenKey, error) {
	var k idTokenKey
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			break
		}
		switch b.Type {
		case "PRIVATE KEY":
			parsed, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				return k, err
			}
			rk, ok := parsed.(*rsa.PrivateKey)
			if !ok {
				return k, fmt.Errorf("key is %T, not RSA", parsed)
			}
			k.key = rk
		case "CERTIFICATE":
			cert, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return k, err
			}
			k.cert = cert
		}
	}
	if k.key == nil || k.cert == nil {
		return k, errors.New("want a PRIVATE KEY and a CERTIFICATE block")
	}
	if !k.key.PublicKey.Equal(k.cert.PublicKey) {
		return k, errors.New("the certificate is not for the key")
	}
	thumb := sha1.Sum(k.cert.Raw)
	k.kid = b64.EncodeToString(thumb[:])
	return k, nil
}

// sign returns claims as a compact RS256 JWT. The header carries kid only, as in Entra's v2.0
// tokens (v1.0 tokens repeat it as x5t).
func (k idTokenKey) sign(claims any) string {
	header, _ := json.Marshal(struct {
		Typ string `json:"typ"`
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}{"JWT", "RS256", k.kid})
	payload, err := json.Marshal(claims)
	if err != nil {
		panic("sim: marshal claims: " + err.Error())
	}
	input := b64.EncodeToString(header) + "." + b64.EncodeToString(payload)
	h := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(nil, k.key, crypto.SHA256, h[:])
	if err != nil {
		panic("sim: RS256 signature: " + err.Error())
	}
	return input + "." + b64.EncodeToString(sig)
}

// jwk is a key as Entra ID's v2.0 keys document lists it. The issuer restricts which tokens
// the key may verify; with the tenant placeholder it serves every tenant.
type jwk struct {
	Kty    string   `json:"kty"`
	Use    string   `json:"use"`
	Kid    string   `json:"kid"`
	X5t    string   `json:"x5t"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X5c    []string `json:"x5c"`
	Issuer string   `json:"issuer"`
}

func (k idTokenKey) jwk(issuer string) jwk {
	pub := k.key.PublicKey
	return jwk{
		Kty: "RSA", Use: "sig", Kid: k.kid, X5t: k.kid,
		N: b64.EncodeToString(pub.N.Bytes()), E: b64.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		X5c:    []string{base64.StdEncoding.EncodeToString(k.cert.Raw)},
		Issuer: issuer,
	}
}

// issuer is the v2.0 issuer of tokens for tenantID (a GUID or the placeholder).
func (s *Server) issuer(tenantID string) string { return s.base + "/" + tenantID + "/v2.0" }

// metadataTenant resolves the tenant segment of a metadata URL: the tenant GUID (a domain
// resolves to it, as in Entra ID), or the tenantless segment with the placeholder issuer.
func (s *Server) metadataTenant(w http.ResponseWriter, r *http.Request) (endpointTenant, issuerTenant string, ok bool) {
	seg := r.PathValue("tenant")
	if isTenantless(seg) {
		return strings.ToLower(seg), tenantPlaceholder, true
	}
	o := s.dir.lookup(seg)
	if o == nil {
		s.writeAAD(w, r, errTenantNotFound(seg))
		return "", "", false
	}
	return o.ID, o.ID, true
}

func (s *Server) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	endpointTenant, issuerTenant, ok := s.metadataTenant(w, r)
	if !ok {
		return
	}
	base := s.base + "/" + endpointTenant
	// Only what the simulator implements is advertised. Like Entra ID, it does not list
	// code_challenge_methods_supported although PKCE (plain and S256) works.
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                s.issuer(issuerTenant),
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"userinfo_endpoint":                     s.base + "/oidc/userinfo", // on Graph's host
		"end_session_endpoint":                  base + "/oauth2/v2.0/logout",
		"response_types_supported":              []string{"code"},
		"response_modes_supported":              []string{"query"},
		"subject_types_supported":               []string{"pairwise"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "client_secret_basic"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"claims_supported": []string{"sub", "iss", "aud", "exp", "iat", "nbf", "nonce", "name",
			"preferred_username", "email", "oid", "tid", "ver", "groups"},
		"request_uri_parameter_supported": false,
		"msgraph_host":                    strings.TrimPrefix(s.base, "https://"),
	})
}

// handleKeys publishes the ID token signing key. Entra ID answers the same keys for every
// tenant, each with the templated issuer.
func (s *Server) handleKeys(w http.ResponseWriter, r *http.Request) {
	if _, _, ok := s.metadataTenant(w, r); !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": []jwk{s.idKey.jwk(s.issuer(tenantPlaceholder))}})
}

// idClaims are the claims of a v2.0 ID token. name, preferred_username and oid need the
// profile scope, email the email scope; groups come when the app registration asks for them.
type idClaims struct {
	Aud               string   `json:"aud"`
	Iss               string   `json:"iss"`
	Iat               int64    `json:"iat"`
	Nbf               int64    `json:"nbf"`
	Exp               int64    `json:"exp"`
	Aio               string   `json:"aio"`
	Email             string   `json:"email,omitempty"`
	Groups            []string `json:"groups,omitempty"`
	IDP               string   `json:"idp,omitempty"`
	Name              string   `json:"name,omitempty"`
	Nonce             string   `json:"nonce,omitempty"`
	OID               string   `json:"oid,omitempty"`
	PreferredUsername string   `json:"preferred_username,omitempty"`
	RH                string   `json:"rh"`
	Sub               string   `json:"sub"`
	Tid               string   `json:"tid"`
	Uti               string   `json:"uti"`
	Ver               string   `json:"ver"`
}

// idToken issues acct's ID token for app in tenant; nonce is the authorize request's (empty
// after a refresh).
func (s *Server) idToken(app *App, acct *account, tenant *org, sr scopeRequest, nonce string, now time.Time) string {
	c := idClaims{
		Aud: app.ClientID, Iss: s.issuer(tenant.ID), Iat: now.Unix(), Nbf: now.Unix(),
		Exp: now.Add(idTokenLifetime).Unix(), Aio: randomToken()[:32], Nonce: nonce,
		RH: "0." + randomToken()[:24], Sub: pairwiseSub(acct.ID, tenant.ID, app.ClientID),
		Tid: tenant.ID, Uti: randomToken()[:22], Ver: "2.0",
	}
	if acct.home != tenant {
		c.IDP = s.base + "/" + acct.home.ID + "/"
	}
	if sr.oidc["profile"] {
		c.Name, c.PreferredUsername, c.OID = acct.DisplayName, acct.UPN, acct.ID
	}
	if u := acct.home.user(acct.ID); sr.oidc["email"] && u != nil {
		c.Email = u.Mail
	}
	// Group memberships are the tenant's own: a partner user has none in a customer tenant.
	if app.emitsGroups() && acct.home == tenant {
		c.Groups = slices.Clone(acct.groups)
	}
	return s.idKey.sign(c)
}

// handleLogout is the end_session_endpoint. The simulator keeps no browser session, so
// signing out only sends the browser on: to post_logout_redirect_uri when it is registered for
// the app (client_id, or any partner app when absent), else to a signed-out page, as Entra ID
// ignores an unregistered address.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, r, errMalformedRequest())
		return
	}
	if seg := r.PathValue("tenant"); !isTenantless(seg) && s.dir.lookup(seg) == nil {
		s.errorPage(w, r, errTenantNotFound(seg))
		return
	}
	if target := r.Form.Get("post_logout_redirect_uri"); target != "" {
		for id, app := range s.dir.apps {
			if (r.Form.Get("client_id") == "" || r.Form.Get("client_id") == id) && redirectAllowed(app, target) {
				redirectWith(w, r, target, nil, r.Form.Get("state"))
				return
			}
		}
	}
	s.renderPage(w, http.StatusOK, page{
		Title: "Sign out", Heading: "You signed out of your account",
		Lead: "It's a good idea to close all browser windows.",
	})
}

// graphUserInfo is the OIDC UserInfo endpoint Microsoft Graph hosts (GET or POST
// /oidc/userinfo, "Microsoft identity platform UserInfo endpoint"): the signed-in user's
// claims, with the ID token's subject. It takes delegated tokens only.
func (s *Server) graphUserInfo(w http.ResponseWriter, r *http.Request, call graphCall) {
	c := call.claims
	acct := s.dir.byOID[c.OID]
	if c.IDTyp == "app" || acct == nil {
		s.writeGraphError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "UserInfo answers for a signed-in user: send a delegated access token requested with the openid scope.")
		return
	}
	given, family, _ := strings.Cut(acct.DisplayName, " ")
	s.mu.Lock()
	if u := acct.home.byID[acct.ID]; u != nil && (u.GivenName != "" || u.Surname != "") {
		given, family = u.GivenName, u.Surname
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{
		"sub": pairwiseSub(acct.ID, c.Tid, c.AppID), "name": acct.DisplayName, "family_name": family, "given_name": given,
		"picture": s.base + "/v1.0/me/photo/$value", "email": acct.UPN,
	})
}
