package microsoft

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
	absauth "github.com/microsoft/kiota-abstractions-go/authentication"
	khttp "github.com/microsoft/kiota-http-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/text"
)

// tokenProvider hands kiota a token from MSAL for the one Graph host it may
// send it to. It keeps the token while it is fresh, so the pages of a round
// do not each load the token cache, and never hands out again a token Graph
// refused.
type tokenProvider struct {
	fetch func(ctx context.Context, claims string) (token string, expires time.Time, err error)
	hosts absauth.AllowedHostsValidator

	mu      sync.Mutex
	token   string
	expires time.Time
	refused string
}

// tokenMargin is how long before its expiry a token is replaced, as MSAL does.
const tokenMargin = 5 * time.Minute

func (p *tokenProvider) GetAuthorizationToken(ctx context.Context, u *url.URL, extra map[string]any) (string, error) {
	if !p.hosts.IsUrlHostValid(u) {
		return "", nil // never leak a token to another host
	}
	claims := ""
	if c, _ := extra["claims"].(string); c != "" {
		// A claims challenge Graph sent with a 401, base64 as in the
		// WWW-Authenticate header; MSAL wants it decoded.
		raw, err := base64.StdEncoding.DecodeString(c)
		if err != nil {
			return "", fmt.Errorf("graph sent a claims challenge that is not base64 (%q): %w", c, err)
		}
		claims = string(raw)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if claims == "" && p.token != "" && p.token != p.refused && time.Until(p.expires) > tokenMargin {
		return p.token, nil
	}
	tok, exp, err := p.fetch(ctx, claims)
	if err == nil && tok == p.refused {
		// MSAL still trusts the token Graph refused (revoked early, or the
		// clocks disagree). Only a claims request makes MSAL skip its cache;
		// this one asks for a token issued from now on.
		tok, exp, err = p.fetch(ctx, fmt.Sprintf(`{"access_token":{"nbf":{"essential":true,"value":"%d"}}}`, time.Now().Unix()))
	}
	if err != nil {
		return "", err
	}
	p.token, p.expires = tok, exp
	return tok, nil
}

func (p *tokenProvider) GetAllowedHostsValidator() *absauth.AllowedHostsValidator { return &p.hosts }

// refuse records that Graph refused token, so the next request gets another.
func (p *tokenProvider) refuse(token string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refused = token
}

// graph returns a Microsoft Graph client acting as the multi-tenant app in
// one customer tenant (app-only, client credentials), and its token source.
// It keeps the SDK's middleware (retry on 429/503/504 honouring Retry-After,
// compression).
func (a *Auth) graph(p domain.Credentials, tenantID string) (*msgraphsdk.GraphServiceClient, *tokenProvider, error) {
	return a.graphAs(p, func(ctx context.Context, claims string) (string, time.Time, error) {
		return a.graphAppToken(ctx, p, tenantID, claims)
	})
}

// graphAs returns a Graph client whose requests carry the tokens fetch gets.
func (a *Auth) graphAs(p domain.Credentials, fetch func(ctx context.Context, claims string) (string, time.Time, error)) (*msgraphsdk.GraphServiceClient, *tokenProvider, error) {
	baseURL, partnerID := p.GraphURL, p.PartnerID
	base, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || base.Host == "" {
		return nil, nil, fmt.Errorf("graph URL %q of partner %s is not a URL", baseURL, partnerID)
	}
	hosts, err := absauth.NewAllowedHostsValidatorErrorCheck([]string{base.Hostname()}) // kiota compares host names, without port
	if err != nil {
		return nil, nil, fmt.Errorf("graph URL %q of partner %s: %w", baseURL, partnerID, err)
	}
	provider := &tokenProvider{fetch: fetch, hosts: *hosts}
	opts := msgraphsdk.GetDefaultClientOptions()
	parent := a.HTTP.Transport
	if parent == nil {
		parent = http.DefaultTransport
	}
	hc := &http.Client{
		Transport: khttp.NewCustomTransportWithParentTransport(parent, msgraphcore.GetDefaultMiddlewaresWithOptions(&opts)...),
		Timeout:   a.HTTP.Timeout,
	}
	adapter, err := msgraphsdk.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(
		absauth.NewBaseBearerTokenAuthenticationProvider(provider), nil, nil, hc)
	if err != nil {
		return nil, nil, err
	}
	adapter.SetBaseUrl(base.String() + "/v1.0")
	return msgraphsdk.NewGraphServiceClient(adapter), provider, nil
}

// Organization reads the tenant's organization object: the cheapest call
// that proves the app can read the tenant.
func (a *Auth) Organization(ctx context.Context, p domain.Credentials, tenantID string) (string, error) {
	var name string
	err := a.graphCall(ctx, p, tenantID, func(gc *msgraphsdk.GraphServiceClient) error {
		res, err := gc.Organization().Get(ctx, nil)
		if err != nil {
			return err
		}
		for _, o := range res.GetValue() {
			if n := o.GetDisplayName(); n != nil {
				name = text.Clean(*n, text.MaxName)
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return "", ClassifyGraph(err)
	}
	return name, nil
}

// graphCall runs call with a Graph client of the tenant; a token Graph refuses (expired or
// revoked before MSAL expected) is replaced once, unseen by the caller.
func (a *Auth) graphCall(ctx context.Context, p domain.Credentials, tenantID string, call func(*msgraphsdk.GraphServiceClient) error) error {
	gc, tokens, err := a.graph(p, tenantID)
	if err != nil {
		return err
	}
	for retried := false; ; retried = true {
		err := call(gc)
		var f *Failure
		if err != nil && !retried && errors.As(ClassifyGraph(err), &f) && f.Status == 401 && f.Code == "InvalidAuthenticationToken" {
			tokens.mu.Lock()
			used := tokens.token
			tokens.mu.Unlock()
			tokens.refuse(used)
			continue
		}
		return err
	}
}

// ClassifyGraph classifies an error from the Graph SDK: an OData error by
// its code and status, any other error response by its status.
func ClassifyGraph(err error) error {
	var f *Failure
	if errors.As(err, &f) {
		return f
	}
	var odata *odataerrors.ODataError
	var api *abs.ApiError
	switch {
	case errors.As(err, &odata):
		// The SDK's ODataError.Error() dereferences fields that an error
		// body may lack; read them one by one.
		code, msg := "", ""
		if e := odata.GetErrorEscaped(); e != nil {
			if c := e.GetCode(); c != nil {
				code = *c
			}
			if m := e.GetMessage(); m != nil {
				msg = *m
			}
		}
		if strings.EqualFold(code, "serviceNotAvailable") {
			code = "ServiceUnavailable"
		}
		return FromCode(code, odata.ResponseStatusCode, firstLine(msg), retryAfter(odata.GetResponseHeaders()), err)
	case errors.As(err, &api):
		return FromCode("", api.ResponseStatusCode, firstLine(api.Error()), retryAfter(api.GetResponseHeaders()), err)
	}
	return Classify(err)
}

func retryAfter(h *abs.ResponseHeaders) time.Duration {
	if h == nil {
		return 0
	}
	if v := h.Get("Retry-After"); len(v) > 0 {
		return ParseRetryAfter(v[0])
	}
	return 0
}
