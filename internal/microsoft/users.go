package microsoft

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	abs "github.com/microsoft/kiota-abstractions-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/cspsync/cspsync/internal/domain"
)

// Page size limits Graph applies, whatever a client asks for.
const (
	MaxDeltaPageSize          = 200 // users/delta
	MaxSignInActivityPageSize = 500 // list users selecting signInActivity ("List users")
	// MaxUsersByID is how many ids one $filter=id in (…) may name: Graph counts them as
	// or-clauses, of which it allows 15.
	MaxUsersByID = 15
)

// GraphUsers reads one customer tenant's users through msgraph-sdk-go: its
// request builders, authentication provider and middleware (retry on
// 429/503/504 honouring Retry-After, compression), but each page comes back
// as Graph's raw JSON, since decoding pages into the SDK's generic models
// costs about ten times what decoding them into the sync's narrow struct does.
// One GraphUsers serves a tenant's whole round: it keeps its adapter and token.
type GraphUsers struct {
	client *msgraphsdk.GraphServiceClient
	tokens *tokenProvider
	host   string
}

// GraphUsers returns the users reader of one customer tenant.
func (a *Auth) GraphUsers(p domain.Credentials, tenantID string) (*GraphUsers, error) {
	gc, tokens, err := a.graph(p, tenantID)
	if err != nil {
		return nil, err
	}
	base, _ := url.Parse(p.GraphURL) // a.graph has parsed it already
	return &GraphUsers{client: gc, tokens: tokens, host: base.Host}, nil
}

// graphErrors decodes every error answer into Graph's OData error, as the
// SDK's own request builders do.
var graphErrors = abs.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue}

// DeltaFirstPage starts a full users/delta round: GET
// /v1.0/users/delta()?$select=… with pages of at most pageSize users (Graph
// allows at most 200). It returns the page's raw JSON, whose
// @odata.nextLink or @odata.deltaLink the caller follows with DeltaPage.
func (g *GraphUsers) DeltaFirstPage(ctx context.Context, selectProps []string, pageSize int) ([]byte, error) {
	if len(selectProps) == 0 {
		return nil, errors.New("users delta: no properties to select; name the user properties the sync reads")
	}
	headers, err := preferPageSize(pageSize, MaxDeltaPageSize)
	if err != nil {
		return nil, err
	}
	cfg := &users.DeltaRequestBuilderGetRequestConfiguration{
		Headers:         headers,
		QueryParameters: &users.DeltaRequestBuilderGetQueryParameters{Select: selectProps},
	}
	return g.send(ctx, func() (*abs.RequestInformation, error) {
		return g.client.Users().Delta().ToGetRequestInformation(ctx, cfg)
	})
}

// DeltaPage follows a users/delta @odata.nextLink or @odata.deltaLink
// verbatim (the link carries the round's $select and state) and returns the
// page's raw JSON. A link Graph no longer honours fails with a Failure that
// errors.Is(err, ErrDeltaExpired) reports: start a full round.
//
// It asks for Graph's default response, never Prefer: return=minimal: by
// default an updated user comes with every selected property that ever had a
// value (its old value where unchanged), minimally with only the changed
// ones. The sync reads again every user a page sends without some selected
// property, so the default mode costs re-reads only for users with a
// property never set, the minimal one for nearly every updated user (see the
// README's users section for the figures).
func (g *GraphUsers) DeltaPage(ctx context.Context, link string, pageSize int) ([]byte, error) {
	if err := g.checkLink(link); err != nil {
		return nil, err
	}
	headers, err := preferPageSize(pageSize, MaxDeltaPageSize)
	if err != nil {
		return nil, err
	}
	cfg := &users.DeltaRequestBuilderGetRequestConfiguration{Headers: headers}
	return g.send(ctx, func() (*abs.RequestInformation, error) {
		return users.NewDeltaRequestBuilder(link, g.client.GetAdapter()).ToGetRequestInformation(ctx, cfg)
	})
}

// UsersByID reads up to MaxUsersByID users by object id with selectProps (GET
// /v1.0/users?$filter=id in ('…',…)&$select=…) and returns the page's raw JSON. Users it
// leaves out are deleted, softly or for good.
func (g *GraphUsers) UsersByID(ctx context.Context, ids, selectProps []string) ([]byte, error) {
	if len(ids) == 0 || len(ids) > MaxUsersByID {
		return nil, fmt.Errorf("users by id: %d ids; give 1 to %d a request", len(ids), MaxUsersByID)
	}
	quoted := make([]string, len(ids))
	for i, id := range ids {
		quoted[i] = "'" + strings.ReplaceAll(id, "'", "''") + "'"
	}
	filter := "id in (" + strings.Join(quoted, ",") + ")"
	cfg := &users.UsersRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Filter: &filter, Select: selectProps},
	}
	return g.send(ctx, func() (*abs.RequestInformation, error) {
		return g.client.Users().ToGetRequestInformation(ctx, cfg)
	})
}

// SignInActivity lists the tenant's users with their signInActivity (GET
// /v1.0/users?$select=id,signInActivity), handing each page's raw JSON to
// page in order (last is set for the final page). Graph keeps these pages to 500 users; pageSize above that is
// lowered. It needs an Entra ID P1/P2 tenant: others fail with the catalogue's
// Degrade reaction.
func (g *GraphUsers) SignInActivity(ctx context.Context, pageSize int, page func(body []byte, last bool) error) error {
	if pageSize < 1 {
		return fmt.Errorf("sign-in activity page size %d: give 1 to %d users a page", pageSize, MaxSignInActivityPageSize)
	}
	top := int32(min(pageSize, MaxSignInActivityPageSize))
	cfg := &users.UsersRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Select: []string{"id", "signInActivity"}, Top: &top},
	}
	next := ""
	for {
		body, err := g.send(ctx, func() (*abs.RequestInformation, error) {
			if next == "" {
				return g.client.Users().ToGetRequestInformation(ctx, cfg)
			}
			return users.NewUsersRequestBuilder(next, g.client.GetAdapter()).ToGetRequestInformation(ctx, nil)
		})
		if err != nil {
			return err
		}
		var links struct {
			Next string `json:"@odata.nextLink"`
		}
		if err := json.Unmarshal(body, &links); err != nil {
			return fmt.Errorf("graph answered a users page that is not JSON: %w", err)
		}
		if err := page(body, links.Next == ""); err != nil {
			return err
		}
		if links.Next == "" {
			return nil
		}
		if err := g.checkLink(links.Next); err != nil {
			return err
		}
		next = links.Next
	}
}

// send sends the request built by build and returns the raw body, asking the
// adapter for a []byte primitive: the SDK's authentication and middleware
// apply, its model parsing does not. A token Graph refuses (expired or
// revoked before MSAL expected) is replaced once, unseen by the caller.
func (g *GraphUsers) send(ctx context.Context, build func() (*abs.RequestInformation, error)) ([]byte, error) {
	for retried := false; ; retried = true {
		req, err := build()
		if err != nil {
			return nil, err
		}
		res, err := g.client.GetAdapter().SendPrimitive(ctx, req, "[]byte", graphErrors)
		if err == nil {
			body, _ := res.([]byte)
			if len(body) == 0 {
				return nil, errors.New("graph answered with an empty body")
			}
			return body, nil
		}
		var f *Failure
		if errors.As(ClassifyGraph(err), &f) && f.Status == 401 && f.Code == "InvalidAuthenticationToken" && !retried {
			g.tokens.refuse(strings.TrimPrefix(firstHeader(req.Headers, "Authorization"), "Bearer "))
			continue
		}
		return nil, ClassifyGraph(err)
	}
}

// checkLink refuses a paging link to another host than Graph's: the token
// would not be sent there, and the data would not be Graph's.
func (g *GraphUsers) checkLink(link string) error {
	u, err := url.Parse(link)
	if err != nil || !u.IsAbs() {
		return fmt.Errorf("paging link %q is not an absolute URL; pass Graph's @odata.nextLink or @odata.deltaLink unchanged", link)
	}
	if !strings.EqualFold(u.Host, g.host) {
		return fmt.Errorf("paging link %q points at %s, not at the partner's Graph host %s; pass Graph's own links, or check the partner's Graph URL", link, u.Host, g.host)
	}
	return nil
}

// preferPageSize asks for pages of at most n items (Graph's limit lowers it),
// and nothing else: no return=minimal (see DeltaPage).
func preferPageSize(n, limit int) (*abs.RequestHeaders, error) {
	if n < 1 {
		return nil, fmt.Errorf("users delta page size %d: give 1 to %d users a page", n, limit)
	}
	h := abs.NewRequestHeaders()
	h.Add("Prefer", "odata.maxpagesize="+strconv.Itoa(min(n, limit)))
	return h, nil
}

func firstHeader(h *abs.RequestHeaders, name string) string {
	if v := h.Get(name); len(v) > 0 {
		return v[0]
	}
	return ""
}
