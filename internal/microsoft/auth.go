// Package microsoft holds cspsync's clients for Entra ID (through MSAL) and
// Partner Center, and the catalogue that classifies every Microsoft failure.
// Only base URLs and an optional CA file differ between real Microsoft and
// the simulator.
package microsoft

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/secrets"
)

// Scopes. They name Microsoft's resources, so they stay the same against the simulator.
const (
	PartnerCenterScope = "https://api.partnercenter.microsoft.com/user_impersonation"
	GraphDefaultScope  = "https://graph.microsoft.com/.default"
)

// NewHTTPClient returns a client trusting the system roots plus caFile (the
// simulator's CA), never one that skips verification.
func NewHTTPClient(caFile string) (*http.Client, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("reading CA file %s (CSPSYNC_CA_FILE): %w", caFile, err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s (CSPSYNC_CA_FILE) holds no PEM certificate", caFile)
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}, nil
}

// TokenCache keeps MSAL's token cache blobs (sealed at rest by whoever
// implements it), one per partner, app and MSAL partition.
type TokenCache interface {
	LoadTokenCache(ctx context.Context, partnerID, key string) ([]byte, error)
	SaveTokenCache(ctx context.Context, partnerID, key string, blob []byte) error
}

// Auth obtains tokens for partners' app registrations through MSAL.
type Auth struct {
	HTTP  *http.Client
	Cache TokenCache

	// clients keeps MSAL clients between calls: each resolves its
	// authority's endpoints once, not once per token.
	mu      sync.Mutex
	clients map[[sha256.Size]byte]confidential.Client
	oidc    openID // operators' sign-in: tenant metadata and signing keys

	// tokens keeps the access tokens MSAL handed out, in front of its
	// cache: MSAL loads its whole cache from the store on every call, so a
	// token still fresh is served from here without a query. Keys cover
	// what a token depends on (the app's secret, the signed-in account),
	// and callers read the credentials once per activity, so a reconnect,
	// a disconnect or a rotated key is still seen at the next activity.
	tokensMu sync.Mutex
	tokens   map[[sha256.Size]byte]memoToken
}

type memoToken struct {
	token   string
	expires time.Time
}

// memoKey names a token by everything it depends on.
func memoKey(parts ...string) [sha256.Size]byte {
	return sha256.Sum256([]byte(strings.Join(parts, "\x00")))
}

// memoized returns a fresh token kept under key, or fetches one and keeps
// it. A claims challenge always goes to MSAL: it asks for a token other
// than the one MSAL (and so this memo) holds.
func (a *Auth) memoized(ctx context.Context, key [sha256.Size]byte, claims string,
	fetch func(ctx context.Context) (string, time.Time, error)) (string, time.Time, error) {
	if claims == "" {
		a.tokensMu.Lock()
		m, ok := a.tokens[key]
		a.tokensMu.Unlock()
		if ok && time.Until(m.expires) > tokenMargin {
			return m.token, m.expires, nil
		}
	}
	tok, exp, err := fetch(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	a.tokensMu.Lock()
	defer a.tokensMu.Unlock()
	if a.tokens == nil {
		a.tokens = map[[sha256.Size]byte]memoToken{}
	}
	for k, m := range a.tokens { // drop the expired, so the memo stays as small as the live tokens
		if time.Until(m.expires) <= tokenMargin {
			delete(a.tokens, k)
		}
	}
	a.tokens[key] = memoToken{tok, exp}
	return tok, exp, nil
}

// tokenCache adapts MSAL's persistent cache to a TokenCache.
type tokenCache struct {
	cache     TokenCache
	partnerID string
	clientID  string
}

func (c tokenCache) key(partition string) string { return c.clientID + "/" + partition }

// cacheStoreError is a failure of the storage behind the token cache: it
// says nothing about the partner's sign-in, so MSAL's errors must not read as
// a missing token.
type cacheStoreError struct{ error }

func (e cacheStoreError) Unwrap() error { return e.error }

func (c tokenCache) Replace(ctx context.Context, u cache.Unmarshaler, h cache.ReplaceHints) error {
	blob, err := c.cache.LoadTokenCache(ctx, c.partnerID, c.key(h.PartitionKey))
	if err != nil {
		return cacheStoreError{err}
	}
	if blob == nil {
		// Nothing stored (never, or removed by disconnect): MSAL's memory
		// must forget too, since clients live across calls.
		blob = []byte("{}")
	}
	return u.Unmarshal(blob)
}

func (c tokenCache) Export(ctx context.Context, m cache.Marshaler, h cache.ExportHints) error {
	blob, err := m.Marshal()
	if err != nil {
		return err
	}
	if err := c.cache.SaveTokenCache(ctx, c.partnerID, c.key(h.PartitionKey), blob); err != nil {
		return cacheStoreError{err}
	}
	return nil
}

func (a *Auth) client(p domain.Credentials, clientID, secret, tenant string) (confidential.Client, error) {
	authority := strings.TrimRight(p.AuthorityURL, "/") + "/" + tenant
	// The key covers everything the client is built from, the secret
	// included (hashed), so reconnecting with new settings gets a new client.
	key := sha256.Sum256([]byte(p.PartnerID + "\x00" + clientID + "\x00" + authority + "\x00" + secret))
	a.mu.Lock()
	defer a.mu.Unlock()
	if c, ok := a.clients[key]; ok {
		return c, nil
	}
	cred, err := confidential.NewCredFromSecret(secret)
	if err != nil {
		return confidential.Client{}, fmt.Errorf("client secret of app %s: %w", clientID, err)
	}
	// Instance discovery would call login.microsoftonline.com whatever the
	// authority; the authority is configured, so it is not needed.
	c, err := confidential.New(authority, clientID, cred,
		confidential.WithInstanceDiscovery(false),
		confidential.WithHTTPClient(a.HTTP),
		confidential.WithCache(tokenCache{cache: a.Cache, partnerID: p.PartnerID, clientID: clientID}))
	if err != nil {
		return c, err
	}
	if a.clients == nil {
		a.clients = map[[sha256.Size]byte]confidential.Client{}
	}
	a.clients[key] = c
	return c, nil
}

// partnerCenterApp is the single-tenant app, with the partner tenant as authority.
func (a *Auth) partnerCenterApp(p domain.Credentials) (confidential.Client, error) {
	return a.client(p, p.PCClientID, p.PCClientSecret, p.PartnerTenantID)
}

// graphApp is the multi-tenant app; each call names the customer tenant.
func (a *Auth) graphApp(p domain.Credentials) (confidential.Client, error) {
	return a.client(p, p.GraphClientID, p.GraphSecret, "organizations")
}

// RandomToken returns 32 random bytes, base64url: state values and verifiers.
func RandomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// PKCE returns a fresh code verifier and its S256 challenge.
func PKCE() (verifier, challenge string) {
	verifier = RandomToken()
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// AuthorizeURL is the partner admin's sign-in link for the Partner Center app.
func (a *Auth) AuthorizeURL(ctx context.Context, p domain.Credentials, redirectURI, state, challenge string) (string, error) {
	app, err := a.partnerCenterApp(p)
	if err != nil {
		return "", err
	}
	u, err := app.AuthCodeURL(ctx, p.PCClientID, redirectURI, []string{PartnerCenterScope, "offline_access", "openid", "profile"})
	if err != nil {
		return "", fmt.Errorf("building the authorize URL from %s: %w", p.AuthorityURL, Classify(err))
	}
	parsed, err := url.Parse(u)
	if err != nil {
		return "", err
	}
	q := parsed.Query()
	q.Set("state", state)
	q.Set("code_challenge", challenge)
	q.Set("code_challenge_method", "S256")
	q.Set("prompt", "select_account")
	parsed.RawQuery = q.Encode()
	return parsed.String(), nil
}

// RedeemCode exchanges an authorization code and returns the MSAL account
// id; the refresh token stays in the encrypted cache.
func (a *Auth) RedeemCode(ctx context.Context, p domain.Credentials, code, verifier, redirectURI string) (string, error) {
	app, err := a.partnerCenterApp(p)
	if err != nil {
		return "", err
	}
	res, err := app.AcquireTokenByAuthCode(ctx, code, redirectURI, []string{PartnerCenterScope}, confidential.WithChallenge(verifier))
	if err != nil {
		return "", Classify(err)
	}
	return res.Account.HomeAccountID, nil
}

// PartnerCenterToken returns a delegated Partner Center access token,
// refreshed silently from the cache when it has expired.
func (a *Auth) PartnerCenterToken(ctx context.Context, p domain.Credentials) (string, error) {
	tok, _, err := a.partnerToken(ctx, p, PartnerCenterScope)
	return tok, err
}

// partnerToken returns a delegated token of the partner's signed-in admin
// for scope, through the Partner Center app: its refresh token serves any
// resource the app has a consented permission on.
func (a *Auth) partnerToken(ctx context.Context, p domain.Credentials, scope string) (string, time.Time, error) {
	if p.HomeAccountID == "" {
		return "", time.Time{}, FromCode("NotAuthorised", 0, "the partner has not been authorised yet", 0, nil)
	}
	key := memoKey("partner", p.PartnerID, p.AuthorityURL, p.PartnerTenantID, p.PCClientID, p.PCClientSecret, p.HomeAccountID, scope)
	return a.memoized(ctx, key, "", func(ctx context.Context) (string, time.Time, error) {
		return a.partnerTokenFromMSAL(ctx, p, scope)
	})
}

func (a *Auth) partnerTokenFromMSAL(ctx context.Context, p domain.Credentials, scope string) (string, time.Time, error) {
	app, err := a.partnerCenterApp(p)
	if err != nil {
		return "", time.Time{}, err
	}
	acct, err := app.Account(ctx, p.HomeAccountID)
	if err != nil {
		return "", time.Time{}, err
	}
	if acct.HomeAccountID == "" {
		return "", time.Time{}, FromCode("NotAuthorised", 0, "no cached sign-in for the partner", 0, nil)
	}
	res, err := app.AcquireTokenSilent(ctx, []string{scope}, confidential.WithSilentAccount(acct))
	var call msalerrors.CallErr
	var stored cacheStoreError
	switch {
	case errors.As(err, &call), errors.Is(err, secrets.ErrDecrypt):
		return "", time.Time{}, Classify(err)
	case errors.As(err, &stored):
		return "", time.Time{}, err
	case err != nil: // MSAL found no refresh token to redeem
		return "", time.Time{}, FromCode("NotAuthorised", 0, err.Error(), 0, err)
	}
	return res.AccessToken, res.ExpiresOn, nil
}

// GraphAppToken returns an app-only Graph token for one customer tenant
// (client credentials of the multi-tenant app), from MSAL's cache while it is
// valid.
func (a *Auth) GraphAppToken(ctx context.Context, p domain.Credentials, tenantID string) (string, error) {
	tok, _, err := a.graphAppToken(ctx, p, tenantID, "")
	return tok, err
}

// graphAppToken returns GraphAppToken's token and its expiry; claims (a
// claims challenge) make MSAL skip its cache.
func (a *Auth) graphAppToken(ctx context.Context, p domain.Credentials, tenantID, claims string) (string, time.Time, error) {
	key := memoKey("graph", p.PartnerID, p.AuthorityURL, p.GraphClientID, p.GraphSecret, tenantID)
	return a.memoized(ctx, key, claims, func(ctx context.Context) (string, time.Time, error) {
		return a.graphAppTokenFromMSAL(ctx, p, tenantID, claims)
	})
}

func (a *Auth) graphAppTokenFromMSAL(ctx context.Context, p domain.Credentials, tenantID, claims string) (string, time.Time, error) {
	app, err := a.graphApp(p)
	if err != nil {
		return "", time.Time{}, err
	}
	opts := []confidential.AcquireByCredentialOption{confidential.WithTenantID(tenantID)}
	if claims != "" {
		opts = append(opts, confidential.WithClaims(claims))
	}
	res, err := app.AcquireTokenByCredential(ctx, []string{GraphDefaultScope}, opts...)
	if err != nil {
		return "", time.Time{}, Classify(err)
	}
	return res.AccessToken, res.ExpiresOn, nil
}

// PartnerCenter returns a Partner Center client acting as the partner's
// signed-in admin.
func (a *Auth) PartnerCenter(p domain.Credentials) *PartnerCenter {
	return &PartnerCenter{BaseURL: p.PartnerCenterURL, HTTP: a.HTTP, Token: func(ctx context.Context) (string, error) {
		return a.PartnerCenterToken(ctx, p)
	}}
}

// AdminConsentURL is the link a customer tenant's Global Administrator opens
// to consent the multi-tenant Graph app in that tenant (GDAP).
func AdminConsentURL(p domain.Credentials, tenantID, redirectURI, state string) string {
	q := url.Values{"client_id": {p.GraphClientID}, "scope": {GraphDefaultScope}, "redirect_uri": {redirectURI}, "state": {state}}
	return strings.TrimRight(p.AuthorityURL, "/") + "/" + url.PathEscape(tenantID) + "/v2.0/adminconsent?" + q.Encode()
}
