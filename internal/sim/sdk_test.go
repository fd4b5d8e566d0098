package sim

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
	absauth "github.com/microsoft/kiota-abstractions-go/authentication"
	khttp "github.com/microsoft/kiota-http-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
)

// appTokenProvider hands the Graph SDK an app-only token for one tenant, fetching a new one
// after forget, as a client does when Graph says its token expired.
type appTokenProvider struct {
	fetch func() string
	hosts *absauth.AllowedHostsValidator
	mu    sync.Mutex
	token string
}

func (p *appTokenProvider) GetAuthorizationToken(context.Context, *url.URL, map[string]any) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.token == "" {
		p.token = p.fetch()
	}
	return p.token, nil
}

func (p *appTokenProvider) GetAllowedHostsValidator() *absauth.AllowedHostsValidator { return p.hosts }

func (p *appTokenProvider) forget() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.token = ""
}

// graphSDK returns the real msgraph-sdk-go client, with its default middleware, pointed at s.
func graphSDK(t *testing.T, s *Server, hc *http.Client, tenant string) (*msgraphsdk.GraphServiceClient, *msgraphsdk.GraphRequestAdapter, *appTokenProvider) {
	t.Helper()
	host, _ := url.Parse(s.URL())
	hosts, err := absauth.NewAllowedHostsValidatorErrorCheck([]string{host.Hostname()})
	if err != nil {
		t.Fatal(err)
	}
	p := &appTokenProvider{fetch: func() string { return appToken(t, hc, s, tenant) }, hosts: hosts}
	opts := msgraphsdk.GetDefaultClientOptions()
	client := &http.Client{Transport: khttp.NewCustomTransportWithParentTransport(hc.Transport, msgraphcore.GetDefaultMiddlewaresWithOptions(&opts)...)}
	adapter, err := msgraphsdk.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(
		absauth.NewBaseBearerTokenAuthenticationProvider(p), nil, nil, client)
	if err != nil {
		t.Fatal(err)
	}
	adapter.SetBaseUrl(s.URL() + "/v1.0")
	return msgraphsdk.NewGraphServiceClient(adapter), adapter, p
}

func TestUsersDeltaWithGraphSDK(t *testing.T) {
	sc := usersScenario(23)
	tn := sc.Tenants[0]
	clock := newTestClock()
	s, hc := startSim(t, sc, Options{Now: clock.Now})
	gc, adapter, tokens := graphSDK(t, s, hc, tn.ID)
	ctx := context.Background()

	headers := abs.NewRequestHeaders()
	headers.Add("Prefer", "odata.maxpagesize=10")
	cfg := &users.DeltaRequestBuilderGetRequestConfiguration{Headers: headers}
	page, err := gc.Users().Delta().GetAsDeltaGetResponse(ctx, &users.DeltaRequestBuilderGetRequestConfiguration{
		Headers:         headers,
		QueryParameters: &users.DeltaRequestBuilderGetQueryParameters{Select: []string{"id", "displayName", "department", "accountEnabled"}},
	})
	if err != nil {
		t.Fatalf("initial delta request: %v", err)
	}
	seen := map[string]bool{}
	for pages := 1; ; pages++ {
		for _, u := range page.GetValue() {
			seen[*u.GetId()] = true
			if u.GetDisplayName() == nil || u.GetAccountEnabled() == nil {
				t.Fatalf("user decoded without selected properties: %v", *u.GetId())
			}
		}
		if page.GetOdataDeltaLink() != nil {
			if pages != 3 {
				t.Errorf("%d pages of at most 10 for 23 users", pages)
			}
			break
		}
		if pages == 2 {
			// Tokens expire mid-round: Graph answers 401 and a client with a new token goes on.
			clock.Advance(time.Second)
			if err := s.ExpireAccessTokens(); err != nil {
				t.Fatal(err)
			}
			clock.Advance(time.Second)
			_, err := users.NewDeltaRequestBuilder(*page.GetOdataNextLink(), adapter).GetAsDeltaGetResponse(ctx, cfg)
			var odata *odataerrors.ODataError
			if !errors.As(err, &odata) || odata.ResponseStatusCode != 401 || *odata.GetErrorEscaped().GetCode() != "InvalidAuthenticationToken" ||
				*odata.GetErrorEscaped().GetMessage() != "Lifetime validation failed, the token is expired." {
				t.Fatalf("expired token: %v", err)
			}
			tokens.forget()
		}
		if page, err = users.NewDeltaRequestBuilder(*page.GetOdataNextLink(), adapter).GetAsDeltaGetResponse(ctx, cfg); err != nil {
			t.Fatalf("following nextLink: %v", err)
		}
	}
	if len(seen) != 23 {
		t.Fatalf("initial round saw %d users", len(seen))
	}
	deltaLink := *page.GetOdataDeltaLink()
	if !strings.HasPrefix(deltaLink, s.URL()+"/v1.0/users/delta?$deltatoken=") {
		t.Errorf("deltaLink %s", deltaLink)
	}

	ch, err := s.ChangeUsers(tn.ID, UserChanges{Seed: 5, Create: 1, Disable: 1, Delete: 1})
	if err != nil {
		t.Fatal(err)
	}
	page, err = users.NewDeltaRequestBuilder(deltaLink, adapter).GetAsDeltaGetResponse(ctx, nil)
	if err != nil {
		t.Fatalf("following deltaLink: %v", err)
	}
	got := map[string]string{}
	for _, u := range page.GetValue() {
		kind := "changed"
		if r, ok := u.GetAdditionalData()["@removed"]; ok && r != nil {
			kind = "removed"
		} else if !*u.GetAccountEnabled() {
			kind = "disabled"
		}
		got[*u.GetId()] = kind
	}
	if len(got) != 3 || got[ch.Created[0]] != "changed" || got[ch.Disabled[0]] != "disabled" || got[ch.Deleted[0]] != "removed" || page.GetOdataDeltaLink() == nil {
		t.Errorf("round after changes: %v", got)
	}

	// signInActivity decodes for every user; a date Graph does not have is the year 1.
	list, err := gc.Users().Get(ctx, &users.UsersRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Select: []string{"id", "signInActivity"}},
	})
	if err != nil {
		t.Fatalf("list users with signInActivity: %v", err)
	}
	for i, u := range list.GetValue() {
		if i < len(tn.Users) && *u.GetId() == tn.Users[i].ID {
			a := u.GetSignInActivity()
			if a == nil || a.GetLastSignInDateTime() == nil {
				t.Fatalf("user %d signInActivity %v, want every date", i, a)
			}
			if never := tn.Users[i].LastSignIn == nil; never != (a.GetLastSignInDateTime().Year() == 1) {
				t.Errorf("user %d last sign-in %v, never signed in %v", i, a.GetLastSignInDateTime(), never)
			}
		}
	}
}
