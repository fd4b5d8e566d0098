package microsoft

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
	absauth "github.com/microsoft/kiota-abstractions-go/authentication"
	khttp "github.com/microsoft/kiota-http-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/cspsync/cspsync/internal/text"
)

// tokenProvider hands kiota a token from MSAL for the one Graph host it may
// send it to.
type tokenProvider struct {
	token func(ctx context.Context) (string, error)
	hosts absauth.AllowedHostsValidator
}

func (p *tokenProvider) GetAuthorizationToken(ctx context.Context, u *url.URL, _ map[string]any) (string, error) {
	if !p.hosts.IsUrlHostValid(u) {
		return "", nil // never leak a token to another host
	}
	return p.token(ctx)
}

func (p *tokenProvider) GetAllowedHostsValidator() *absauth.AllowedHostsValidator { return &p.hosts }

// Graph returns a Microsoft Graph client acting as the multi-tenant app in
// one customer tenant (app-only, client credentials). It keeps the SDK's
// middleware (retry on 429/503/504 honouring Retry-After, compression).
func (a *Auth) Graph(p Credentials, tenantID string) (*msgraphsdk.GraphServiceClient, error) {
	baseURL, partnerID := p.GraphURL, p.PartnerID
	base, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || base.Host == "" {
		return nil, fmt.Errorf("graph URL %q of partner %s is not a URL", baseURL, partnerID)
	}
	hosts, err := absauth.NewAllowedHostsValidatorErrorCheck([]string{base.Hostname()}) // kiota compares host names, without port
	if err != nil {
		return nil, fmt.Errorf("graph URL %q of partner %s: %w", baseURL, partnerID, err)
	}
	provider := &tokenProvider{
		token: func(ctx context.Context) (string, error) { return a.GraphAppToken(ctx, p, tenantID) },
		hosts: *hosts,
	}
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
		return nil, err
	}
	adapter.SetBaseUrl(base.String() + "/v1.0")
	return msgraphsdk.NewGraphServiceClient(adapter), nil
}

// Organization reads the tenant's organization object: the cheapest call
// that proves the app can read the tenant.
func (a *Auth) Organization(ctx context.Context, p Credentials, tenantID string) (string, error) {
	gc, err := a.Graph(p, tenantID)
	if err != nil {
		return "", err
	}
	res, err := gc.Organization().Get(ctx, nil)
	if err != nil {
		return "", ClassifyGraph(err)
	}
	for _, o := range res.GetValue() {
		if n := o.GetDisplayName(); n != nil {
			return text.Clean(*n, text.MaxName), nil
		}
	}
	return "", nil
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
