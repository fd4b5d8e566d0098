package microsoft

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	jsonserialization "github.com/microsoft/kiota-serialization-json-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/domain"
)

// documented reads the response of one of Microsoft's documented examples kept for the
// simulator's conformance suite (internal/sim/testdata/conformance; each names its page).
func documented(t *testing.T, name string) (status int, body []byte) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "sim", "testdata", "conformance", name+".json"))
	require.NoError(t, err)
	var fx struct {
		Status   int             `json:"status"`
		Response json.RawMessage `json:"response"`
	}
	require.NoError(t, json.Unmarshal(raw, &fx))
	return fx.Status, fx.Response
}

// The Partner Center client reads Microsoft's documented answers as they stand: the customer
// list, subscribed SKUs, subscriptions (whose example dates carry stray spaces) and the error
// for a customer that is not the partner's.
func TestPartnerCenterDecodesDocumentedExamples(t *testing.T) {
	serve := map[string]string{
		"/v1/customers":                      "pc-customers",
		"/v1/customers/c1/subscribedskus":    "pc-subscribedskus",
		"/v1/customers/c1/subscriptions":     "pc-subscriptions",
		"/v1/customers/other/subscribedskus": "pc-error-unknown-customer",
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := serve[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		status, body := documented(t, name)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(body)
	}))
	defer srv.Close()
	pc := &PartnerCenter{BaseURL: srv.URL, HTTP: srv.Client(), Token: func(context.Context) (string, error) { return "t", nil }}
	ctx := context.Background()

	customers, next, err := pc.CustomersPage(ctx, Cursor{}, 40)
	require.NoError(t, err)
	require.Len(t, customers, 2)
	assert.Equal(t, "b44bb1fb-c595-45b0-9e09-d657365580bf", customers[0].ID)
	assert.Equal(t, "reseller", customers[0].RelationshipToPartner)
	assert.Equal(t, Cursor{}, next, "the documented page has no next link")

	skus, err := pc.SubscribedSkus(ctx, "c1")
	require.NoError(t, err)
	require.Len(t, skus, 1)
	assert.Equal(t, PCSubscribedSku{AvailableUnits: 4, ActiveUnits: 5, ConsumedUnits: 1, TotalUnits: 5, CapabilityStatus: "Enabled"},
		withoutProduct(skus[0]))
	assert.Equal(t, "EMS", skus[0].ProductSku.SkuPartNumber)

	subs, err := pc.Subscriptions(ctx, "c1")
	require.NoError(t, err)
	require.Len(t, subs, 1)
	assert.Equal(t, "83ef9d05-4169-4ef9-9657-0e86b1eab1de", subs[0].ID)
	assert.Equal(t, time.Date(2016, 12, 12, 8, 0, 0, 0, time.UTC), subs[0].CommitmentEndDate)

	_, err = pc.SubscribedSkus(ctx, "other")
	var f *Failure
	require.True(t, errors.As(err, &f), "%v", err)
	assert.Equal(t, "PartnerCenter20002", f.Code)
	assert.Equal(t, domain.NeedsFix, f.Reaction)

	// One subscription, as get-a-subscription-by-id documents it.
	_, body := documented(t, "pc-subscription")
	var sub PCSubscription
	require.NoError(t, json.Unmarshal(body, &sub))
	assert.Equal(t, "MS-AZR-0145P", sub.OfferID)
	assert.Equal(t, time.Date(9999, 12, 10, 0, 0, 0, 0, time.UTC), sub.CommitmentEndDate)
}

func withoutProduct(s PCSubscribedSku) PCSubscribedSku {
	s.ProductSku = PCSubscribedSku{}.ProductSku
	return s
}

// The Graph SDK's decoding, which Organization relies on, reads the documented organization
// list; the documented Graph error classifies by its code; the documented discovery document
// and token error give what cspsync reads of them.
func TestGraphAndEntraDecodeDocumentedExamples(t *testing.T) {
	_, body := documented(t, "graph-organization-list")
	node, err := jsonserialization.NewJsonParseNode(body)
	require.NoError(t, err)
	v, err := node.GetObjectValue(models.CreateOrganizationCollectionResponseFromDiscriminatorValue)
	require.NoError(t, err)
	orgs := v.(models.OrganizationCollectionResponseable).GetValue()
	require.Len(t, orgs, 1)
	assert.Equal(t, "Contoso", *orgs[0].GetDisplayName())
	assert.Equal(t, "Contoso.onmicrosoft.com", *orgs[0].GetVerifiedDomains()[0].GetName())

	status, body := documented(t, "graph-users-list-search-error")
	var f *Failure
	require.True(t, errors.As(ClassifyGraph(graphError(status, "", body)), &f))
	assert.Equal(t, "Request_UnsupportedQuery", f.Code)
	assert.Equal(t, http.StatusBadRequest, f.Status)
	assert.Contains(t, f.Message, "ConsistencyLevel: eventual")

	_, body = documented(t, "entra-openid-configuration")
	var meta OIDCMetadata
	require.NoError(t, json.Unmarshal(body, &meta))
	assert.Equal(t, OIDCMetadata{AuthorizationEndpoint: "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize",
		TokenEndpoint: "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token", JWKSURI: "https://login.microsoftonline.com/{tenant}/discovery/v2.0/keys"}, meta)

	_, body = documented(t, "entra-token-error")
	var tokenErr struct {
		Description string `json:"error_description"`
	}
	require.NoError(t, json.Unmarshal(body, &tokenErr))
	assert.Equal(t, "AADSTS70011", AADSTSCode(tokenErr.Description, ""))
}
