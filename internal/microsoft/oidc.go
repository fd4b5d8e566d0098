package microsoft

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cspsync/cspsync/internal/domain"
)

// Operators sign in to the worker's pages with OpenID Connect through the
// partner's single-tenant Partner Center app: authorization code with PKCE,
// then the ID token validated here with the standard library. MSAL is not
// used, so an operator's tokens never join the partner's token cache.

// OIDCMetadata is the part of a tenant's discovery document cspsync uses.
type OIDCMetadata struct {
	Issuer                string `json:"issuer"`
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	TokenEndpoint         string `json:"token_endpoint"`
	JWKSURI               string `json:"jwks_uri"`
}

// IDClaims are the claims of a v2.0 ID token that cspsync reads.
type IDClaims struct {
	Issuer    string   `json:"iss"`
	Audience  audience `json:"aud"`
	Nonce     string   `json:"nonce"`
	Expiry    int64    `json:"exp"`
	NotBefore int64    `json:"nbf"`
	TenantID  string   `json:"tid"`
	ObjectID  string   `json:"oid"`
	UPN       string   `json:"preferred_username"`
	Name      string   `json:"name"`
	Groups    []string `json:"groups"`
	// ClaimNames names claims left out of the token: "groups" when the user
	// is in more groups than a token carries (the groups overage claim).
	ClaimNames map[string]string `json:"_claim_names"`
}

// audience is "aud": one string, or a list in other issuers' tokens.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*a = audience{one}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(a))
}

// clockSkew is how far the worker's clock may differ from Entra ID's.
const clockSkew = 5 * time.Minute

// openID caches each tenant's metadata and signing keys.
type openID struct {
	mu   sync.Mutex
	meta map[string]OIDCMetadata              // by discovery URL
	keys map[string]map[string]*rsa.PublicKey // by jwks_uri, then kid
}

// OperatorSignInURL is where an operator signs in through the partner's
// Partner Center app.
func (a *Auth) OperatorSignInURL(ctx context.Context, p domain.Credentials, redirectURI, state, nonce, challenge string) (string, error) {
	m, err := a.Metadata(ctx, p)
	if err != nil {
		return "", err
	}
	u, err := url.Parse(m.AuthorizationEndpoint)
	if err != nil {
		return "", fmt.Errorf("authorization endpoint %q of the partner tenant: %w", m.AuthorizationEndpoint, err)
	}
	q := u.Query()
	for k, v := range map[string]string{"client_id": p.PCClientID, "response_type": "code", "response_mode": "query",
		"redirect_uri": redirectURI, "scope": "openid profile", "state": state, "nonce": nonce,
		"code_challenge": challenge, "code_challenge_method": "S256"} {
		q.Set(k, v)
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// OperatorSignIn redeems an operator's authorization code at the partner
// tenant's token endpoint and returns the claims of the validated ID token.
func (a *Auth) OperatorSignIn(ctx context.Context, p domain.Credentials, code, verifier, redirectURI, nonce string) (IDClaims, error) {
	m, err := a.Metadata(ctx, p)
	if err != nil {
		return IDClaims{}, err
	}
	form := url.Values{"grant_type": {"authorization_code"}, "client_id": {p.PCClientID}, "client_secret": {p.PCClientSecret},
		"code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}, "scope": {"openid profile"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.TokenEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return IDClaims{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	var body struct {
		IDToken string `json:"id_token"`
		tokenErrorBody
	}
	status, err := a.getJSON(req, &body)
	if err != nil {
		return IDClaims{}, err
	}
	if status != http.StatusOK || body.IDToken == "" {
		code := AADSTSCode(body.ErrorDescription, body.Error)
		if len(body.ErrorCodes) > 0 {
			code = fmt.Sprintf("AADSTS%d", body.ErrorCodes[0])
		}
		return IDClaims{}, FromCode(code, status, firstLine(body.ErrorDescription), 0, nil)
	}
	return a.ValidateIDToken(ctx, m, body.IDToken, p.PCClientID, nonce, time.Now())
}

// Metadata reads the partner tenant's discovery document, once per worker.
func (a *Auth) Metadata(ctx context.Context, p domain.Credentials) (OIDCMetadata, error) {
	u := strings.TrimRight(p.AuthorityURL, "/") + "/" + url.PathEscape(p.PartnerTenantID) + "/v2.0/.well-known/openid-configuration"
	a.oidc.mu.Lock()
	m, ok := a.oidc.meta[u]
	a.oidc.mu.Unlock()
	if ok {
		return m, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return m, err
	}
	var body struct {
		OIDCMetadata
		tokenErrorBody
	}
	status, err := a.getJSON(req, &body)
	if err != nil {
		return m, err
	}
	m = body.OIDCMetadata
	if status != http.StatusOK {
		return m, FromCode(AADSTSCode(body.ErrorDescription, body.Error), status, firstLine(body.ErrorDescription), 0, nil)
	}
	if m.Issuer == "" || m.AuthorizationEndpoint == "" || m.TokenEndpoint == "" || m.JWKSURI == "" || strings.Contains(m.Issuer, "{") {
		return m, fmt.Errorf("the discovery document %s lacks a tenant issuer or an endpoint: check --authority-url and --partner-tenant of `cspsync connect`", u)
	}
	a.oidc.mu.Lock()
	if a.oidc.meta == nil {
		a.oidc.meta = map[string]OIDCMetadata{}
	}
	a.oidc.meta[u] = m
	a.oidc.mu.Unlock()
	return m, nil
}

// ValidateIDToken checks an ID token as OpenID Connect asks: an RS256
// signature by a key the tenant publishes, the tenant's issuer, the app as
// audience, this sign-in's nonce and the validity period (with clockSkew).
func (a *Auth) ValidateIDToken(ctx context.Context, m OIDCMetadata, token, clientID, nonce string, now time.Time) (IDClaims, error) {
	var c IDClaims
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return c, errors.New("the ID token is not a signed JWT")
	}
	var header struct{ Alg, Kid string }
	if err := decodeSegment(parts[0], &header); err != nil {
		return c, fmt.Errorf("ID token header: %w", err)
	}
	if header.Alg != "RS256" {
		return c, fmt.Errorf("ID token signed with %q: only RS256, which Entra ID uses, is accepted", header.Alg)
	}
	key, err := a.signingKey(ctx, m.JWKSURI, header.Kid)
	if err != nil {
		return c, err
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return c, errors.New("ID token signature is not base64url")
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(key, crypto.SHA256, digest[:], sig) != nil {
		return c, fmt.Errorf("ID token signature does not verify with the tenant's key %q", header.Kid)
	}
	if err := decodeSegment(parts[1], &c); err != nil {
		return c, fmt.Errorf("ID token claims: %w", err)
	}
	switch {
	case c.Issuer != m.Issuer:
		return c, fmt.Errorf("ID token issued by %q, not by the partner tenant (%q)", c.Issuer, m.Issuer)
	case !slices.Contains(c.Audience, clientID):
		return c, fmt.Errorf("ID token is for %q, not for the Partner Center app %s", []string(c.Audience), clientID)
	case nonce == "" || subtle.ConstantTimeCompare([]byte(c.Nonce), []byte(nonce)) != 1:
		return c, errors.New("ID token nonce does not match this sign-in: the token was issued for another sign-in")
	case c.Expiry == 0 || now.After(time.Unix(c.Expiry, 0).Add(clockSkew)):
		return c, fmt.Errorf("ID token expired at %s", time.Unix(c.Expiry, 0).UTC().Format(time.RFC3339))
	case c.NotBefore != 0 && now.Add(clockSkew).Before(time.Unix(c.NotBefore, 0)):
		return c, fmt.Errorf("ID token is not valid before %s (is the worker's clock right?)", time.Unix(c.NotBefore, 0).UTC().Format(time.RFC3339))
	}
	return c, nil
}

// signingKey returns the key a token names. An unknown kid sends cspsync
// back to jwks_uri, since Entra ID rolls its keys; tokens reach it only from
// the token endpoint over TLS, so the refetch cannot be forced by a browser.
func (a *Auth) signingKey(ctx context.Context, jwksURI, kid string) (*rsa.PublicKey, error) {
	a.oidc.mu.Lock()
	k := a.oidc.keys[jwksURI][kid]
	a.oidc.mu.Unlock()
	if k != nil {
		return k, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, jwksURI, nil)
	if err != nil {
		return nil, err
	}
	var set struct {
		Keys []struct{ Kty, Use, Kid, N, E string }
	}
	status, err := a.getJSON(req, &set)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("the tenant's signing keys at %s: HTTP %d", jwksURI, status)
	}
	keys := map[string]*rsa.PublicKey{}
	for _, j := range set.Keys {
		n, errN := base64.RawURLEncoding.DecodeString(j.N)
		e, errE := base64.RawURLEncoding.DecodeString(j.E)
		if j.Kty != "RSA" || (j.Use != "" && j.Use != "sig") || errN != nil || errE != nil || len(e) > 4 {
			continue
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if pub.N.BitLen() >= 2048 && pub.E > 1 {
			keys[j.Kid] = pub
		}
	}
	a.oidc.mu.Lock()
	if a.oidc.keys == nil {
		a.oidc.keys = map[string]map[string]*rsa.PublicKey{}
	}
	a.oidc.keys[jwksURI] = keys
	a.oidc.mu.Unlock()
	if k := keys[kid]; k != nil {
		return k, nil
	}
	return nil, fmt.Errorf("ID token signed with key %q, which the tenant does not publish at %s", kid, jwksURI)
}

// getJSON sends req and decodes a JSON answer of at most 1 MiB, whatever
// its status; a failure to reach Microsoft comes back classified.
func (a *Auth) getJSON(req *http.Request, v any) (int, error) {
	req.Header.Set("Accept", "application/json")
	resp, err := a.HTTP.Do(req)
	if err != nil {
		return 0, Classify(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v); err != nil && resp.StatusCode == http.StatusOK {
		return resp.StatusCode, fmt.Errorf("%s answered with malformed JSON: %w", req.URL.Redacted(), err)
	}
	return resp.StatusCode, nil
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return errors.New("not base64url")
	}
	return json.Unmarshal(b, v)
}
